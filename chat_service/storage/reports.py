"""Report roll-ups: counts and duration histograms per (creation day, site), kept as conversations
start, first close and are rated, so a report reads one small document per day and site (about 360
for 90 days of 4 sites) instead of every conversation. Timestamps and counts only: no text, no
visitor data.

One document per `day|site` (UTC day of the conversation's creation):

    created, hours.<0-23>                conversations started, by UTC hour
    a.<agent>.frt.n, .frt.sum, .frt.b.<k>  first agent response: count, total seconds, histogram bucket k
    a.<agent>.res...                     resolution (first close): the same
    a.<agent>.bot, a.<agent>.handed_over conversations a bot answered, and those handed to a person
    a.<agent>.csat.<1-5>                 ratings

`<agent>` is the agent the conversation is counted for (assigned, else the first to answer), or
`-` for none.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.logging import get_logger
from chat_service.models import Conversation
from chat_service.storage.database import translate_errors

log = get_logger(__name__)
NONE = "-"
LOAD_CHUNK = 50  # documents per insert when bulk loading (each is a few kB)
# Histogram bucket upper bounds in seconds: 1 s, then 25 % wider each, up to 60 days; the last
# bucket (beyond about 70 days) is open. A median or p90 read from it is exact to within one
# bucket (at most 25 %).
BOUNDS: tuple[float, ...] = tuple(1.25**k for k in range(0, 71))


def bucket_of(seconds: float) -> int:
    return bisect.bisect_left(BOUNDS, max(seconds, 0.0))


def day_key(at: datetime) -> str:
    return at.date().isoformat()


def rollup_id(day: str, site_id: str | None) -> str:
    return f"{day}|{site_id or NONE}"


@dataclass(frozen=True)
class RollupChange:
    """Increments to one roll-up document (created if missing); `inc` keys are final paths."""

    day: str
    site_id: str | None
    inc: dict[str, int | float]

    @property
    def id(self) -> str:
        return rollup_id(self.day, self.site_id)

    def document(self) -> dict[str, Any]:
        """The document these increments make on their own (for bulk loading into an empty store)."""
        doc: dict[str, Any] = {"_id": self.id, "day": self.day, "site_id": self.site_id or NONE}
        for path, value in self.inc.items():
            *parents, leaf = path.split(".")
            node = doc
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = node.get(leaf, 0) + value
        return doc

    def update(self) -> UpdateOne:
        return UpdateOne(
            {"_id": self.id},
            {"$inc": self.inc, "$setOnInsert": {"day": self.day, "site_id": self.site_id or NONE}},
            upsert=True,
        )


def _of_agent(agent_id: str | None, inc: dict[str, int | float]) -> dict[str, int | float]:
    prefix = f"a.{agent_id or NONE}."
    return {prefix + key: value for key, value in inc.items()}


def fold(changes: Iterable[RollupChange]) -> list[RollupChange]:
    """Changes to the same document merged into one (bulk loads write each document once)."""
    merged: dict[str, RollupChange] = {}
    for change in changes:
        known = merged.get(change.id)
        if known is None:
            merged[change.id] = RollupChange(change.day, change.site_id, dict(change.inc))
        else:
            for key, value in change.inc.items():
                known.inc[key] = known.inc.get(key, 0) + value
    return list(merged.values())


def started(conv: Conversation) -> RollupChange:
    return RollupChange(day_key(conv.created_at), conv.site_id, {"created": 1, f"hours.{conv.created_at.hour}": 1})


def closed(doc: dict[str, Any]) -> RollupChange:
    """The first close of a conversation (stored document after the change)."""
    created: datetime = doc["created_at"]
    inc: dict[str, int | float] = {}
    closed_at = doc.get("closed_at")
    if closed_at is not None:
        seconds = max(0.0, (closed_at - created).total_seconds())
        inc.update({"res.n": 1, "res.sum": seconds, f"res.b.{bucket_of(seconds)}": 1})
    first = doc.get("first_response_at")
    if first is not None:
        seconds = max(0.0, (first - created).total_seconds())
        inc.update({"frt.n": 1, "frt.sum": seconds, f"frt.b.{bucket_of(seconds)}": 1})
    # Set by the bots (`bot`) and hand-over (`handed_over_at`) code when present.
    if doc.get("bot"):
        inc["bot"] = 1
        if doc.get("handed_over_at") is not None:
            inc["handed_over"] = 1
    return RollupChange(
        day_key(created), doc.get("site_id"), _of_agent(doc.get("assigned_agent_id"), inc or {"closed": 1})
    )


def rated(conv: Conversation, rating: int) -> RollupChange:
    return RollupChange(
        day_key(conv.created_at), conv.site_id, _of_agent(conv.assigned_agent_id, {f"csat.{rating}": 1})
    )


@dataclass
class Histogram:
    n: int = 0
    total: float = 0.0
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, part: dict[str, Any] | None) -> None:
        if not part:
            return
        self.n += int(part.get("n", 0))
        self.total += float(part.get("sum", 0.0))
        for key, count in (part.get("b") or {}).items():
            self.buckets[int(key)] = self.buckets.get(int(key), 0) + int(count)

    def merge(self, other: Histogram) -> None:
        self.n += other.n
        self.total += other.total
        for key, count in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + count

    def quantile(self, q: float) -> float | None:
        """Interpolated within the bucket that holds the q-th value (None without values)."""
        if self.n == 0:
            return None
        rank = q * self.n
        seen = 0
        for key in sorted(self.buckets):
            count = self.buckets[key]
            if seen + count >= rank:
                low = BOUNDS[key - 1] if key > 0 else 0.0
                high = BOUNDS[key] if key < len(BOUNDS) else low
                return low + (high - low) * ((rank - seen) / count if count else 1.0)
            seen += count
        return BOUNDS[-1]


@dataclass
class Rollup:
    day: date
    site_id: str | None
    agent_id: str | None
    created: int
    hours: list[int]
    frt: Histogram
    res: Histogram
    bot: int
    handed_over: int
    csat: list[int]  # counts of ratings 1..5


def _rollups_from_doc(doc: dict[str, Any]) -> list[Rollup]:
    """The day's counts (agent None), then one entry per agent with its times and ratings."""
    day = date.fromisoformat(doc["day"])
    site_id = None if doc["site_id"] == NONE else doc["site_id"]
    hours = [0] * 24
    for key, count in (doc.get("hours") or {}).items():
        hours[int(key)] = int(count)
    rollups = [Rollup(day, site_id, None, int(doc.get("created", 0)), hours, Histogram(), Histogram(), 0, 0, [0] * 5)]
    for agent, part in (doc.get("a") or {}).items():
        frt, res = Histogram(), Histogram()
        frt.add(part.get("frt"))
        res.add(part.get("res"))
        ratings = part.get("csat") or {}
        rollups.append(
            Rollup(
                day,
                site_id,
                None if agent == NONE else agent,
                0,
                [0] * 24,
                frt,
                res,
                int(part.get("bot", 0)),
                int(part.get("handed_over", 0)),
                [int(ratings.get(str(r), 0)) for r in range(1, 6)],
            )
        )
    return rollups


class ReportStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.report_rollups

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("day", ASCENDING)], name="day")

    async def apply(self, changes: Sequence[RollupChange], session: AsyncClientSession | None = None) -> None:
        """Inside a transaction (`session`): with the change it counts, all or nothing. Outside one:
        best effort, as a report one count short is better than a chat message refused."""
        if not changes:
            return
        try:
            await self._col.bulk_write([c.update() for c in fold(changes)], ordered=False, session=session)
        except Exception as exc:  # reports must never break the conversation that fed them
            if session is not None:
                raise
            log.warning("report_rollup_failed", error=type(exc).__name__)

    @translate_errors
    async def load(self, changes: Iterable[RollupChange]) -> int:
        """Bulk load (benchmarks, imports) into an empty store: one insert per document."""
        docs = [change.document() for change in fold(changes)]
        for i in range(0, len(docs), LOAD_CHUNK):
            await self._col.insert_many(docs[i : i + LOAD_CHUNK], ordered=False)
        return len(docs)

    @translate_errors
    async def between(self, first: date, last: date, sites: Collection[str] | None) -> list[Rollup]:
        query: dict[str, Any] = {"day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        if sites is not None:
            query["site_id"] = {"$in": sorted(sites)}
        return [rollup async for doc in self._col.find(query, {"_id": 0}) for rollup in _rollups_from_doc(doc)]
