"""What one write costs SecantusDB, by kind: the figures behind the write path's design.

    .venv/bin/python bench/write_costs.py [--batch 20] [--rounds 40] [--json]

Starts SecantusDB (`--sync-on-commit`, as the tests do), loads 500 conversation documents shaped
like the service's (same fields, the same five secondary indexes, encrypted visitor fields), then
times batches of each kind of write at `w="majority", j=True` and reports SecantusDB's own CPU
per document written (or read). The gap between an insert and an update is why the chat server's capacity
is set by its per-message bookkeeping update of `conversations` (see bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, UpdateOne, WriteConcern

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.chat_latency import cpu_seconds  # noqa: E402
from tests.helpers import SecantusProcess  # noqa: E402

CONVERSATIONS = 500
DURABLE = WriteConcern(w="majority", j=True)


def conversation(index: int, now: datetime) -> dict[str, Any]:
    return {
        "_id": f"c{index}",
        "status": "open",
        "created_at": now,
        "last_activity_at": now,
        "resume_token_hash": secrets.token_hex(32),
        "resume_expires_at": now,
        "message_count": 1,
        "assigned_agent_id": None,
        "closed_at": None,
        "offline": False,
        "notice_version": "2025-01",
        "site_id": "demo",
        "last_message_id": secrets.token_hex(12),
        "first_client_hash": secrets.token_hex(32),
        "visitor": {name: secrets.token_bytes(size) for name, size in (("ip", 60), ("ua", 120), ("page", 100))},
    }


async def run(uri: str, pid: int, batch: int, rounds: int) -> dict[str, float]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client.get_database("costs", write_concern=DURABLE)
    conversations, slim, messages, events = db.conversations, db.activity, db.messages, db.events
    # The service's indexes (chat_service/storage/database.py::ensure_indexes).
    await conversations.create_index([("status", ASCENDING), ("last_activity_at", DESCENDING)])
    await conversations.create_index([("last_activity_at", ASCENDING)])
    await conversations.create_index(
        [("first_client_hash", ASCENDING)],
        unique=True,
        partialFilterExpression={"first_client_hash": {"$type": "string"}},
    )
    await conversations.create_index([("email_index", ASCENDING)], sparse=True)
    await conversations.create_index([("pseudonym", ASCENDING)], sparse=True)
    await messages.create_index(
        [("conversation_id", ASCENDING), ("sender", ASCENDING), ("client_id", ASCENDING)], unique=True
    )
    await messages.create_index([("created_at", ASCENDING)])
    await slim.create_index([("last_activity_at", ASCENDING)])
    now = datetime.now(UTC)
    await conversations.insert_many([conversation(i, now) for i in range(CONVERSATIONS)])
    await slim.insert_many(
        [{"_id": f"c{i}", "message_count": 1, "last_activity_at": now} for i in range(CONVERSATIONS)]
    )
    counter = iter(range(10**9))

    def target(n: int) -> str:
        return f"c{n % CONVERSATIONS}"

    def bookkeeping(at: datetime, n: int) -> dict[str, Any]:
        return {"$inc": {"message_count": 1}, "$max": {"last_activity_at": at}, "$set": {"last_message_id": f"m{n}"}}

    async def insert_messages(_: int) -> None:
        docs = []
        for _ in range(batch):
            n = next(counter)
            docs.append(
                {
                    "_id": f"m{n}",
                    "conversation_id": target(n),
                    "sender": "visitor",
                    "client_id": f"k{n}",
                    "created_at": now,
                    "text": secrets.token_bytes(80),
                    "text_length": 20,
                }
            )
        await messages.insert_many(docs, ordered=False)

    async def update_conversations(r: int) -> None:
        at = now + timedelta(seconds=r + 1)
        ops = [
            UpdateOne({"_id": target(r * batch + j), "status": {"$ne": "closed"}}, bookkeeping(at, j))
            for j in range(batch)
        ]
        await conversations.bulk_write(ops, ordered=False)

    async def update_in_transaction(r: int) -> None:
        at = now + timedelta(seconds=r + 1)
        ops = [UpdateOne({"_id": target(r * batch + j)}, bookkeeping(at, j)) for j in range(batch)]
        async with client.start_session() as session:
            async with await session.start_transaction(write_concern=DURABLE):
                await conversations.bulk_write(ops, ordered=False, session=session)

    async def update_slim(r: int) -> None:
        at = now + timedelta(seconds=r + 1)
        ops = [UpdateOne({"_id": target(r * batch + j)}, bookkeeping(at, j)) for j in range(batch)]
        await slim.bulk_write(ops, ordered=False)

    async def read_statuses(r: int) -> None:
        # What the write pipeline reads per batch instead of updating (chat_service/storage/batches.py).
        ids = [target(r * batch + j) for j in range(batch)]
        [doc async for doc in conversations.find({"_id": {"$in": ids}}, {"status": 1})]

    async def insert_events(_: int) -> None:
        await events.insert_many([{"c": target(next(counter)), "t": now} for _ in range(batch)], ordered=False)

    kinds: list[tuple[str, Callable[[int], Awaitable[None]]]] = [
        ("insert message (2 indexes)", insert_messages),
        ("update conversation (5 indexes)", update_conversations),
        ("update conversation, in a transaction", update_in_transaction),
        ("update slim document (1 index)", update_slim),
        ("read status of a conversation (by _id)", read_statuses),
        ("insert event (no index)", insert_events),
    ]
    results: dict[str, float] = {}
    for name, write in kinds:
        before, started = cpu_seconds(pid), time.perf_counter()
        for r in range(rounds):
            await write(r)
        cpu_ms = 1000 * (cpu_seconds(pid) - before) / (rounds * batch)
        wall_ms = 1000 * (time.perf_counter() - started) / rounds
        results[name] = round(cpu_ms, 3)
        print(f"{name:40s} SecantusDB CPU {cpu_ms:6.3f} ms per document, {wall_ms:7.2f} ms per batch of {batch}")
    await client.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    database = SecantusProcess(Path(tempfile.mkdtemp(prefix="write-costs-")) / "db").start()
    try:
        assert database.proc is not None
        results = asyncio.run(run(database.uri, database.proc.pid, args.batch, args.rounds))
    finally:
        database.stop()
    if args.json:
        print(json.dumps({"batch": args.batch, "cpu_ms_per_document": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
