"""Outbox delivery throughput: N pending deliveries, one worker, a local aiohttp receiver.

    PYTHONPATH=. .venv/bin/python bench/outbox_bench.py --deliveries 5000 --concurrency 4 16

A fresh embedded SecantusDB is started; N `message.created` deliveries (encrypted payloads, as the
server writes them) are bulk-inserted for one endpoint; then the worker (`run_once`, real clock) sends
them all, signed, to a receiver on 127.0.0.1 that verifies nothing and answers 204. Reported:
deliveries/s end to end (claim, decrypt, sign, POST, record), and the receiver's count.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from chat_service.conversations import new_conversation_id, new_message_id
from chat_service.crypto import KeyRing, KeyRingSource
from chat_service.embedded import start_embedded
from chat_service.logging import configure_logging
from chat_service.models import Message
from chat_service.outbox import DeliveryWorker, EndpointInput, Outbox, Webhooks, WebhookSender
from chat_service.storage import open_database


async def receiver() -> tuple[web.AppRunner, str, list[int]]:
    count = [0]

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        count[0] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook", count


async def run(deliveries: int, concurrency: int, workdir: Path) -> None:
    embedded = await start_embedded(workdir / f"db-{concurrency}")
    runner, url, received = await receiver()
    ring_file = workdir / "master.keys"
    KeyRing.generate().save(ring_file)
    keys = KeyRingSource(ring_file, None)
    try:
        async with open_database(embedded.uri, "bench_outbox", 10_000) as db:
            await db.ensure_indexes()
            outbox = Outbox(db)
            webhooks = Webhooks(db, keys, outbox, allowed_regions=["EU_CENTRAL_1"], dev=True)
            await webhooks.create(EndpointInput(url=url, region="eu-central-1", events=("message.created",)))
            conversation_id = new_conversation_id()
            key, wrapped = keys.current().new_data_key(conversation_id)
            now = datetime.now(UTC)
            await db.data_keys.put(conversation_id, wrapped, now)
            batch = []
            for i in range(deliveries):
                message = Message(new_message_id(), conversation_id, "visitor", f"c{i}", now, b"", 0)
                batch.extend(outbox.message_created(key, message))
                if len(batch) >= 1000:
                    await db.outbox.insert(batch)
                    batch = []
            await db.outbox.insert(batch)
            sender = WebhookSender(dev=True, timeout_s=10)
            worker = DeliveryWorker(db, keys, outbox, webhooks, sender, concurrency=concurrency, batch=500)
            started = time.perf_counter()
            sent = await worker.run_once()
            elapsed = time.perf_counter() - started
            await sender.close()
            print(
                f"concurrency {concurrency:3d}: {sent} deliveries in {elapsed:.2f} s = "
                f"{sent / elapsed:.0f} deliveries/s (receiver got {received[0]})"
            )
    finally:
        await runner.cleanup()
        await embedded.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args()
    configure_logging("WARNING", "console")
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in args.concurrency:
            asyncio.run(run(args.deliveries, concurrency, Path(tmp)))


if __name__ == "__main__":
    main()
