"""The write pipeline alone against SecantusDB: what the database side sustains, no sockets.

    .venv/bin/python bench/pipeline_throughput.py --conversations 1000 --rate 1500 --duration 20 [--json]

Starts SecantusDB (`--sync-on-commit`, as the tests do), creates the conversations, then offers
`--rate` messages per second in total (open loop, round robin over the conversations) through one
`WritePipeline`, exactly as the chat server's handlers do (`submit`, await `stored`, then `done`).
Reports the achieved rate, ack latency, batch sizes and the CPU SecantusDB spent per message. One
Python process generates far more load this way than over Socket.IO, so it shows whether the
database side reaches a target the socket benchmark's single load generator cannot offer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.chat_latency import cpu_seconds, percentile  # noqa: E402
from chat_service.errors import StorageUnavailable  # noqa: E402
from chat_service.models import Conversation, Message  # noqa: E402
from chat_service.pipeline import WritePipeline  # noqa: E402
from chat_service.storage import Database  # noqa: E402
from chat_service.storage.database import make_client  # noqa: E402
from tests.helpers import SecantusProcess  # noqa: E402


async def run(uri: str, pid: int, conversations: int, rate: float, duration: float) -> dict[str, Any]:
    db = Database(make_client(uri, 10_000), "pipeline_bench")
    await db.ensure_indexes()
    now = datetime.now(UTC)
    ids = ["c" + secrets.token_hex(12) for _ in range(conversations)]
    for conversation_id in ids:
        await db.conversations.insert(
            Conversation(
                id=conversation_id,
                status="open",
                created_at=now,
                last_activity_at=now,
                resume_token_hash=secrets.token_hex(32),
                resume_expires_at=now + timedelta(days=30),
                message_count=1,
                visitor={"name": os.urandom(60), "user_agent": os.urandom(120)},
            )
        )
    pipeline = WritePipeline(db)
    pipeline.start()
    ack_ms: list[float] = []
    refused = 0
    failed = 0

    async def one(conversation_id: str, client_id: str) -> None:
        nonlocal refused, failed
        started = time.perf_counter()
        message = Message(
            id="m" + secrets.token_hex(12),
            conversation_id=conversation_id,
            sender="visitor",
            client_id=client_id,
            created_at=datetime.now(UTC),
            text=os.urandom(80),
            text_length=50,
        )
        try:
            pending = pipeline.submit(message, reopen=True)
            await pending.stored
            await pending.done
        except StorageUnavailable as exc:
            if exc.details.get("retry_after"):
                refused += 1
            else:
                failed += 1
            return
        ack_ms.append((time.perf_counter() - started) * 1000)

    total = int(rate * duration)
    cpu_before = cpu_seconds(pid)
    start = time.perf_counter()
    tasks = []
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(ids[n % conversations], f"k{n}")))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_before
    await pipeline.stop()
    stored = await db.db.messages.count_documents({})
    await db.close()
    return {
        "offered_msgs_per_s": rate,
        "acked": len(ack_ms),
        "refused": refused,
        "failed": failed,
        "stored": stored,
        "acked_msgs_per_s": round(len(ack_ms) / elapsed, 1),
        "ack_p50_ms": round(percentile(ack_ms, 50), 2),
        "ack_p99_ms": round(percentile(ack_ms, 99), 2),
        "batches": pipeline.batches,
        "mean_batch": round((len(ack_ms) + failed) / pipeline.batches, 1) if pipeline.batches else 0,
        "largest_batch": pipeline.largest_batch,
        "secantusd_cpu_ms_per_msg": round(cpu / max(1, stored) * 1000, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1500.0, help="messages per second offered in total")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pipeline-throughput-"))
    secantus = SecantusProcess(workdir / "db")
    try:
        secantus.start()
        assert secantus.proc is not None
        result = asyncio.run(run(secantus.uri, secantus.proc.pid, args.conversations, args.rate, args.duration))
    finally:
        secantus.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"offered {args.rate:g} msg/s over {args.conversations} conversations for {args.duration:g} s: "
        f"acked {result['acked_msgs_per_s']} msg/s (ack p50 {result['ack_p50_ms']} ms, p99 {result['ack_p99_ms']} ms), "
        f"refused {result['refused']}, failed {result['failed']}, stored {result['stored']}; "
        f"{result['batches']} batches (mean {result['mean_batch']}, largest {result['largest_batch']}); "
        f"SecantusDB {result['secantusd_cpu_ms_per_msg']} ms CPU per message"
    )
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
