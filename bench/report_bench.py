"""Report latency: seed N conversations (default 100,000), then time the report over all of them.

    PYTHONPATH=. .venv/bin/python bench/report_bench.py [--conversations 100000] [--days 90]

A fresh embedded SecantusDB is started. Conversations are spread over `--days` days, 4 sites and
12 agents; most are answered (first response), closed and a third are rated. Their documents are
bulk-loaded in the server's format (`--skip-documents` leaves them out: the report never reads
them), and their roll-ups are built with the same functions the server calls when a conversation
starts, first closes and is rated (`chat_service/storage/reports.py`), folded per document and
inserted (`ReportStore.load`). Then the report (`Reports.report`, what `GET /api/reports` runs) over the whole range is
timed `--runs` times, and the CSV rendering once. Prints the roll-up document count, the wall
times and the CPU time the report costs this process and SecantusDB together (the figure that
holds on a machine shared with others).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat_service.conversations import new_conversation_id
from chat_service.embedded import start_embedded
from chat_service.models import Conversation, Team
from chat_service.reports import Range, Reports, report_csv
from chat_service.storage import open_database
from chat_service.storage.conversations import conversation_to_doc
from chat_service.storage.reports import RollupChange, closed, rated, started
from chat_service.teams import EVERYTHING, Scope

SITES = ["shop", "blog", "support", "nl"]
AGENTS = [f"u{i:024x}" for i in range(1, 13)]
END = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 5_000


def conversation(rng: random.Random, days: int) -> tuple[Conversation, dict[str, object], int | None]:
    created = END - timedelta(seconds=rng.uniform(0, days * 86_400))
    agent = rng.choice(AGENTS) if rng.random() < 0.9 else None
    first = created + timedelta(seconds=rng.lognormvariate(4.0, 1.2)) if agent else None
    closed_at = created + timedelta(seconds=rng.lognormvariate(7.5, 1.3)) if rng.random() < 0.9 else None
    rating = rng.choice([1, 2, 3, 4, 4, 5, 5, 5]) if closed_at and rng.random() < 0.35 else None
    conv = Conversation(
        id=new_conversation_id(),
        status="closed" if closed_at else "open",
        created_at=created,
        last_activity_at=closed_at or created,
        resume_token_hash="",
        resume_expires_at=created,
        message_count=rng.randint(1, 20),
        assigned_agent_id=agent,
        closed_at=closed_at,
        site_id=rng.choice(SITES),
        first_response_at=first,
        close_count=1 if closed_at else 0,
        csat_rating=rating,
    )
    doc = conversation_to_doc(conv)
    doc.update({"first_response_at": first, "close_count": conv.close_count})
    if rating is not None:
        doc["csat"] = {"rating": rating, "at": closed_at}
    return conv, doc, rating


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc): immune to other processes' load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(n: int, days: int, runs: int, skip_documents: bool, workdir: Path) -> None:
    rng = random.Random(14)
    embedded = await start_embedded(workdir)
    try:
        # No retried writes: SecantusDB does not recognise a retried insert, and would store it twice.
        uri = embedded.uri + ("&" if "?" in embedded.uri else "?") + "retryWrites=false"
        async with open_database(uri, "bench", 60_000) as db:
            await db.ensure_indexes()
            started_at = time.perf_counter()
            changes: list[RollupChange] = []
            docs: list[dict[str, object]] = []
            for _ in range(n):
                conv, doc, rating = conversation(rng, days)
                changes.append(started(conv))
                if conv.closed_at is not None:
                    changes.append(closed(doc))
                if rating is not None:
                    changes.append(rated(conv, rating))
                docs.append(doc)
                if not skip_documents and len(docs) >= CHUNK:
                    await db.db.conversations.insert_many(docs, ordered=False)
                    docs = []
            if docs and not skip_documents:
                await db.db.conversations.insert_many(docs, ordered=False)
            await db.reports.load(changes)
            for i, site in enumerate(SITES[:3]):
                team = Team(f"t{i:016x}", f"Team {site}", tuple(AGENTS[i * 4 : i * 4 + 4]), (site,), END)
                await db.teams.insert(team)
            seeded = time.perf_counter() - started_at
            rollups = await db.db.report_rollups.count_documents({})
            what = "roll-ups only" if skip_documents else "documents + roll-ups"
            print(f"seeded {n} conversations over {days} days ({what}) in {seeded:.1f} s: {rollups} roll-up documents")

            reports = Reports(db)
            span = Range((END - timedelta(days=days)).date(), END.date(), offset_hours=1)
            one_site = Scope(frozenset({"shop"}))
            for label, scope in (("admin, every site", EVERYTHING), ("agent, one site", one_site)):
                timings, cpu = [], []
                report = {}
                for _ in range(runs):
                    t0, c0, d0 = time.perf_counter(), time.process_time(), cpu_seconds(embedded.process.pid)
                    report = await reports.report(scope, span, None)
                    timings.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0 + cpu_seconds(embedded.process.pid) - d0)
                total = report["totals"]["conversations"]  # type: ignore[index]
                print(
                    f"report ({label}, {total} conversations): wall median {statistics.median(timings) * 1000:.0f} ms "
                    f"(min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f}); CPU (ours + SecantusDB) "
                    f"median {statistics.median(cpu) * 1000:.0f} ms over {runs} runs"
                )
            t0 = time.perf_counter()
            csv = report_csv(await reports.report(EVERYTHING, span, None))
            print(f"report + CSV ({len(csv.splitlines())} rows): {(time.perf_counter() - t0) * 1000:.0f} ms")
    finally:
        await embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-documents", action="store_true", help="seed the roll-ups only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        asyncio.run(bench(args.conversations, args.days, args.runs, args.skip_documents, Path(tmp)))


if __name__ == "__main__":
    main()
