"""Reports from the roll-ups (`storage/reports.py`): conversations per day and per hour of week,
first response and resolution times (median, p90) per site, team and agent, bot hand-over rate and
satisfaction (CSAT). Timestamps and counts only; exportable as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chat_service.models import Team
from chat_service.storage import Database
from chat_service.storage.reports import Histogram, Rollup
from chat_service.teams import Scope

BOT_NOTE = (
    "Counted for conversations a bot answered (status `bot`) that closed in the range; 0 while no bot is configured."
)


@dataclass
class Group:
    """Sums over roll-ups: one site, team or agent (or everything)."""

    conversations: int = 0
    frt: Histogram = field(default_factory=Histogram)
    res: Histogram = field(default_factory=Histogram)
    bot: int = 0
    handed_over: int = 0
    csat: list[int] = field(default_factory=lambda: [0] * 5)

    def add(self, other: Group | Rollup) -> None:
        """Another group's (or roll-up's) times, hand-overs and ratings; not its conversation count."""
        self.frt.merge(other.frt)
        self.res.merge(other.res)
        self.bot += other.bot
        self.handed_over += other.handed_over
        self.csat = [a + b for a, b in zip(self.csat, other.csat, strict=True)]

    def to_wire(self) -> dict[str, Any]:
        rated = sum(self.csat)
        return {
            "conversations": self.conversations,
            "first_response": _times(self.frt),
            "resolution": _times(self.res),
            "bot": {
                "conversations": self.bot,
                "handed_over": self.handed_over,
                "rate": round(self.handed_over / self.bot, 4) if self.bot else None,
            },
            "csat": {
                "count": rated,
                "average": round(sum((i + 1) * n for i, n in enumerate(self.csat)) / rated, 2) if rated else None,
                "distribution": list(self.csat),
            },
        }


def _times(histogram: Histogram) -> dict[str, Any]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "count": histogram.n,
        "median_s": rounded(histogram.quantile(0.5)),
        "p90_s": rounded(histogram.quantile(0.9)),
    }


@dataclass(frozen=True)
class Range:
    first: date
    last: date
    offset_hours: int = 0  # the viewer's UTC offset, whole hours

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def build_report(
    rollups: Iterable[Rollup], span: Range, teams: Sequence[Team], names: dict[str, str]
) -> dict[str, Any]:
    per_day = dict.fromkeys(span.days, 0)
    hour_of_week = [[0] * 24 for _ in range(7)]  # Monday first, in the viewer's offset
    counts: dict[str, int] = {}  # conversations per site, by the viewer's days
    cells: dict[tuple[str, str | None], Group] = {}  # times and ratings per (site, agent), by UTC day
    for rollup in rollups:
        site = rollup.site_id or ""
        for hour, count in enumerate(rollup.hours):
            if count:
                shifted = hour + span.offset_hours
                day = rollup.day + timedelta(days=shifted // 24)
                if day in per_day:
                    per_day[day] += count
                    hour_of_week[day.weekday()][shifted % 24] += count
                    counts[site] = counts.get(site, 0) + count
        if span.first <= rollup.day <= span.last and (rollup.frt.n or rollup.res.n or any(rollup.csat) or rollup.bot):
            cells.setdefault((site, rollup.agent_id), Group()).add(rollup)
    # Few cells (sites x agents): combine them into the groups shown.
    team_of_site: dict[str, list[Team]] = {}
    for team in teams:
        for site in team.site_ids:
            team_of_site.setdefault(site, []).append(team)
    total = Group(conversations=sum(counts.values()))
    sites = {site: Group(conversations=n) for site, n in counts.items()}
    team_groups = {team.id: Group(conversations=sum(counts.get(site, 0) for site in team.site_ids)) for team in teams}
    agents: dict[str, Group] = {}
    for (site, agent), cell in cells.items():
        targets = [total, sites.setdefault(site, Group())]
        targets += [team_groups[team.id] for team in team_of_site.get(site, [])]
        if agent is not None:
            targets.append(agents.setdefault(agent, Group()))
        for group in targets:
            group.add(cell)
    for group in agents.values():
        group.conversations = group.res.n  # an agent's conversations: those closed as theirs
    total_wire = total.to_wire()
    total_wire["bot"]["note"] = BOT_NOTE
    return {
        "range": {"from": span.first.isoformat(), "to": span.last.isoformat(), "offset_hours": span.offset_hours},
        "totals": total_wire,
        "per_day": [{"day": day.isoformat(), "conversations": n} for day, n in per_day.items()],
        "hour_of_week": hour_of_week,
        "by_site": [{"site_id": s or None, **g.to_wire()} for s, g in sorted(sites.items())],
        "by_team": [{"team_id": t.id, "name": t.name, **team_groups[t.id].to_wire()} for t in sorted(teams, key=_name)],
        "by_agent": [
            {"agent_id": a, "name": names.get(a, a), **g.to_wire()}
            for a, g in sorted(agents.items(), key=lambda item: names.get(item[0], item[0]))
        ],
    }


def _name(team: Team) -> str:
    return team.name.casefold()


CSV_COLUMNS = (
    "section",
    "key",
    "name",
    "conversations",
    "first_response_count",
    "first_response_median_s",
    "first_response_p90_s",
    "resolution_count",
    "resolution_median_s",
    "resolution_p90_s",
    "bot_conversations",
    "handed_over",
    "csat_count",
    "csat_average",
)


def report_csv(report: dict[str, Any]) -> str:
    """One table: a row per day, per site, team and agent, and the totals (`section` says which)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report["per_day"]:
        writer.writerow(["day", row["day"], "", row["conversations"], *[""] * (len(CSV_COLUMNS) - 4)])
    for day, hours in enumerate(report["hour_of_week"]):
        for hour, count in enumerate(hours):
            writer.writerow(["hour_of_week", f"{day + 1}-{hour:02d}", "", count, *[""] * (len(CSV_COLUMNS) - 4)])
    writer.writerow(_group_row("total", "", "", report["totals"]))
    for row in report["by_site"]:
        writer.writerow(_group_row("site", row["site_id"] or "", "", row))
    for row in report["by_team"]:
        writer.writerow(_group_row("team", row["team_id"], row["name"], row))
    for row in report["by_agent"]:
        writer.writerow(_group_row("agent", row["agent_id"], row["name"], row))
    return out.getvalue()


def _group_row(section: str, key: str, name: str, group: dict[str, Any]) -> list[Any]:
    def cell(value: Any) -> Any:
        return "" if value is None else value

    frt, res, bot, csat = group["first_response"], group["resolution"], group["bot"], group["csat"]
    # A name starting with = + - @ would be a formula in a spreadsheet: quote it as text.
    safe = "'" + name if name[:1] in ("=", "+", "-", "@") else name
    return [
        section,
        key,
        safe,
        group["conversations"],
        frt["count"],
        cell(frt["median_s"]),
        cell(frt["p90_s"]),
        res["count"],
        cell(res["median_s"]),
        cell(res["p90_s"]),
        bot["conversations"],
        bot["handed_over"],
        csat["count"],
        cell(csat["average"]),
    ]


class Reports:
    def __init__(self, db: Database):
        self._db = db

    async def report(self, scope: Scope, span: Range, site: str | None) -> dict[str, Any]:
        sites = scope.narrow([site] if site else None)
        teams = await self._db.teams.all()
        if scope.sites is not None:
            teams = [t for t in teams if set(t.site_ids) & scope.sites]
        # One day either side: the viewer's offset may move an hour into the range.
        rollups = (
            []
            if sites is not None and not sites
            else await self._db.reports.between(span.first - timedelta(days=1), span.last + timedelta(days=1), sites)
        )
        users = await self._db.users.all()
        names = {u.id: u.display_name or u.email.split("@")[0] for u in users}
        return build_report(rollups, span, teams, names)
