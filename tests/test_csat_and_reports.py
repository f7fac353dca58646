"""CSAT after a close (encrypted comment, once, under retention) and the report it feeds,
through real sockets and HTTP; the report arithmetic as plain functions."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import aiohttp
import pytest

from chat_service.reports import Range, build_report, report_csv
from chat_service.storage.reports import BOUNDS, Histogram, Rollup, RollupChange, _rollups_from_doc, bucket_of
from tests.helpers import ServerProcess, agent_client, call, login_full, visitor_client, wait_for
from tests.test_console_api import Api

PASSWORD = "correct horse battery staple"
COMMENT = "Heel fijn geholpen door Piet, dank!"


async def test_visitor_rates_a_closed_conversation_once_and_the_report_counts_it(server: ServerProcess) -> None:
    server.create_user("agent@example.eu", PASSWORD)
    api = Api(server, *await login_full(server, "agent@example.eu", PASSWORD))
    agent, _ = await agent_client(server, api.cookie)
    visitor, visitor_events = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "Mijn bestelling?"})
    conversation_id = ack["conversation_id"]

    early = await call(visitor, "/visitor", "rate", {"rating": 5})
    assert early["error"]["code"] == "conflict"
    assert (await call(agent, "/agent", "claim", {"conversation_id": conversation_id}))["ok"]
    reply = {"conversation_id": conversation_id, "client_id": "a1", "text": "Onderweg!"}
    assert (await call(agent, "/agent", "reply", reply))["ok"]
    assert (await call(agent, "/agent", "close", {"conversation_id": conversation_id}))["ok"]
    assert await visitor_events.next("conversation_status") == {"status": "closed"}

    bad = await call(visitor, "/visitor", "rate", {"rating": 6})
    assert bad["error"]["code"] == "invalid_input"
    assert (await call(visitor, "/visitor", "rate", {"rating": 4, "comment": COMMENT})) == {"ok": True}
    again = await call(visitor, "/visitor", "rate", {"rating": 1})
    assert again["error"]["code"] == "conflict"

    doc = wait_for(
        lambda: server.db().conversations.find_one({"_id": conversation_id, "first_response_at": {"$ne": None}}),
        what="the first response time folded in",
    )
    assert doc["csat"]["rating"] == 4
    assert COMMENT.encode() not in bytes(doc["csat"]["comment"])  # sealed with the conversation's key
    assert doc["first_response_at"] >= doc["created_at"]
    opened = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
    assert opened["conversation"]["csat"] == {"rating": 4, "comment": COMMENT}

    today = doc["created_at"].date().isoformat()
    status, report = await api.request("GET", f"/api/reports?from={today}&to={today}")
    assert status == 200, report
    totals = report["totals"]
    assert totals["conversations"] == 1
    assert totals["csat"] == {"count": 1, "average": 4.0, "distribution": [0, 0, 0, 1, 0]}
    assert totals["first_response"]["count"] == 1 and totals["resolution"]["count"] == 1
    assert totals["first_response"]["median_s"] <= totals["resolution"]["p90_s"]
    assert sum(map(sum, report["hour_of_week"])) == 1
    assert [a["name"] for a in report["by_agent"]] == ["agent"]
    assert totals["bot"]["rate"] is None and totals["bot"]["note"]

    async with aiohttp.ClientSession(cookies={"chat_session": api.cookie}) as session:
        async with session.get(f"{server.url}/api/reports.csv?from={today}&to={today}") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/csv"
            assert resp.headers["Content-Disposition"] == f'attachment; filename="report-{today}-{today}.csv"'
            rows = list(csv.DictReader(io.StringIO(await resp.text())))
    total = next(r for r in rows if r["section"] == "total")
    assert total["conversations"] == "1" and total["csat_average"] == "4.0"
    assert [r["conversations"] for r in rows if r["section"] == "day"] == ["1"]
    for client in (agent, visitor):
        await client.disconnect()


async def test_the_rating_comment_goes_with_pseudonymisation_and_is_in_the_export(server: ServerProcess) -> None:
    server.create_user("agent@example.eu", PASSWORD)
    agent, _ = await agent_client(server, (await login_full(server, "agent@example.eu", PASSWORD))[0])
    visitor, _ = await visitor_client(server)
    conversation_id = (await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "hoi"}))[
        "conversation_id"
    ]
    await call(agent, "/agent", "close", {"conversation_id": conversation_id})
    assert (await call(visitor, "/visitor", "rate", {"rating": 2, "comment": COMMENT}))["ok"]
    await visitor.disconnect()
    await agent.disconnect()

    export = server.run_cli("privacy", "export", "--conversation", conversation_id)
    assert export.returncode == 0, export.stderr
    assert COMMENT in export.stdout and '"rating": 2' in export.stdout

    later = (datetime.now(UTC) + timedelta(days=40)).isoformat()
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "retention", "run", "--now", later],
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    doc = server.db().conversations.find_one({"_id": conversation_id})
    assert doc["pseudonymised"] and doc["csat"] == {"rating": 2, "at": doc["csat"]["at"]}


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (1, 0), (1.1, 1), (1.25, 1), (60, 19), (10**9, len(BOUNDS))],
)
def test_durations_fall_into_buckets_25_percent_wide(seconds: float, bucket: int) -> None:
    assert bucket_of(seconds) == bucket


def test_median_and_p90_from_the_histogram_are_within_one_bucket() -> None:
    values = [3, 8, 20, 45, 60, 90, 120, 300, 600, 3600]
    histogram = Histogram()
    for value in values:
        k = bucket_of(value)
        histogram.merge(Histogram(1, value, {k: 1}))
    median, p90 = histogram.quantile(0.5), histogram.quantile(0.9)
    assert median is not None and p90 is not None
    assert 45 / 1.25 <= median <= 60 * 1.25
    assert 600 / 1.25 <= p90 <= 600 * 1.25
    assert Histogram().quantile(0.5) is None


def _rollup(day: date, hour: int, site: str = "a", agent: str | None = None, csat: int | None = None) -> Rollup:
    hours = [0] * 24
    hours[hour] = 1
    ratings = [0] * 5
    if csat:
        ratings[csat - 1] = 1
    return Rollup(day, site, agent, 1, hours, Histogram(), Histogram(), 0, 0, ratings)


def test_counts_follow_the_viewers_clock_and_hour_of_week_starts_on_monday() -> None:
    monday = date(2026, 11, 23)
    rollups = [_rollup(monday, 23), _rollup(monday, 10, csat=5), _rollup(monday - timedelta(days=1), 23)]
    report = build_report(rollups, Range(monday, monday + timedelta(days=1), offset_hours=1), [], {})
    # 23:00 UTC Monday is 00:00 Tuesday at UTC+1; Sunday 23:00 UTC is Monday 00:00 there.
    assert report["per_day"] == [{"day": "2026-11-23", "conversations": 2}, {"day": "2026-11-24", "conversations": 1}]
    assert report["hour_of_week"][0][0] == 1 and report["hour_of_week"][0][11] == 1
    assert report["hour_of_week"][1][0] == 1
    assert report["totals"]["conversations"] == 3
    assert report["totals"]["csat"]["average"] == 5.0


def test_csv_names_cannot_become_spreadsheet_formulas() -> None:
    day = date(2026, 11, 23)
    report = build_report([_rollup(day, 9, agent="u1", csat=3)], Range(day, day), [], {"u1": "=HYPERLINK(1)"})
    rows = list(csv.DictReader(io.StringIO(report_csv(report))))
    assert next(r for r in rows if r["section"] == "agent")["name"] == "'=HYPERLINK(1)"


def test_a_bulk_loaded_document_is_what_the_increments_make() -> None:
    change = RollupChange("2026-11-23", "shop", {"created": 2, "hours.9": 2, "a.u1.res.n": 1, "a.u1.res.b.3": 1})
    doc = change.document()
    assert doc == {
        "_id": "2026-11-23|shop",
        "day": "2026-11-23",
        "site_id": "shop",
        "created": 2,
        "hours": {"9": 2},
        "a": {"u1": {"res": {"n": 1, "b": {"3": 1}}}},
    }
    [counts, agent] = _rollups_from_doc(doc)
    assert counts.created == 2 and counts.hours[9] == 2 and agent.agent_id == "u1" and agent.res.n == 1
