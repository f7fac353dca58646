"""Attachments: time to check and clean, encrypt and store, and read back a photo and a PDF file.

    PYTHONPATH=. .venv/bin/python bench/attachments_bench.py [--megapixels 12] [--pdf-mb 8] [--rounds 3]

A fresh embedded SecantusDB; the domain classes the server uses (`Attachments` over
`Conversations`, durable writes, real crypto). Per file kind it prints the median over the rounds of:
clean (type check + Pillow re-encode, in its worker thread), store (chunks encrypted and journaled,
plus the message through the write path) and read (chunks fetched, authenticated and joined), and
the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image
from pypdf import PdfWriter

from chat_service.attachments import Attachments
from chat_service.conversations import Conversations, VisitorContext
from chat_service.crypto import KeyRingSource
from chat_service.embedded import start_embedded
from chat_service.storage import open_database
from chat_service.validation import parse_visitor_message


def photo(megapixels: float) -> bytes:
    """A camera-sized JPEG with texture (noise compresses like a real photo, unlike a flat colour)."""
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    noise = Image.frombytes("L", (width, height), os.urandom(width * height)).convert("RGB")
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=85)
    return out.getvalue()


def document(megabytes: float) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("scan.bin", os.urandom(int(megabytes * 1_000_000)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def run(megapixels: float, pdf_mb: float, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        embedded = await start_embedded(data_dir)
        try:
            async with open_database(embedded.uri, "bench", 30_000) as db:
                await db.ensure_indexes()
                keys = KeyRingSource(data_dir / "master.keys", None, create=True)
                conversations = Conversations(db, keys, resume_days=30)
                files = Attachments(db, conversations, max_bytes=100 * 1024 * 1024, max_pixels=200_000_000)
                first = parse_visitor_message({"client_id": "v1", "text": "Hello"}, max_len=4000)
                conv = (await conversations.start(first, VisitorContext())).conversation
                for label, data in (("photo", photo(megapixels)), ("pdf", document(pdf_mb))):
                    timings: dict[str, list[float]] = {"clean": [], "store": [], "read": []}
                    stored_size = 0
                    for n in range(rounds):
                        started = time.perf_counter()
                        await files.clean(data)
                        timings["clean"].append(time.perf_counter() - started)
                        started = time.perf_counter()
                        view, _, _ = await files.attach(conv, f"{label}-{n}", f"{label}.bin", data)
                        # attach() cleans again: subtract this round's clean time to get the storing part.
                        timings["store"].append(time.perf_counter() - started - timings["clean"][-1])
                        assert view.attachment is not None
                        stored_size = view.attachment.size
                        started = time.perf_counter()
                        await files.read(await files.find(view.attachment.id))
                        timings["read"].append(time.perf_counter() - started)
                    figures = "  ".join(f"{k} {statistics.median(v) * 1000:7.0f} ms" for k, v in timings.items())
                    print(f"{label:<6} in {len(data) / 1e6:5.1f} MB, stored {stored_size / 1e6:5.1f} MB  {figures}")
        finally:
            await embedded.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--pdf-mb", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.megapixels, args.pdf_mb, args.rounds))


if __name__ == "__main__":
    main()
