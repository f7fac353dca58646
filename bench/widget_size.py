"""Gzipped size of the visitor widget against its budgets; exits non-zero when over budget.

Budgets (in bytes, 1 KB = 1000 B so they hold under either reading of "KB"): the loader a
site embeds at most 4 KB gzipped, loader plus chat bundle at most 20 KB gzipped.

    .venv/bin/python bench/widget_size.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "chat_service" / "web" / "static"
LOADER_BUDGET = 4_000
TOTAL_BUDGET = 20_000


def gzipped_size(path: Path) -> int:
    # Level 9, as the server serves them (chat_service/web/assets.py).
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def main() -> int:
    manifest_path = STATIC / "manifest.json"
    if not manifest_path.exists():
        print(f"widget not built ({manifest_path} missing): run scripts/install", file=sys.stderr)
        return 1
    manifest = json.loads(manifest_path.read_text())
    loader, bundle = STATIC / manifest["loader"], STATIC / manifest["bundle"]
    loader_gz, bundle_gz = gzipped_size(loader), gzipped_size(bundle)
    total = loader_gz + bundle_gz
    rows = [
        ("loader", loader.name, loader.stat().st_size, loader_gz, LOADER_BUDGET),
        ("bundle", bundle.name, bundle.stat().st_size, bundle_gz, None),
        ("total", "", loader.stat().st_size + bundle.stat().st_size, total, TOTAL_BUDGET),
    ]
    print("widget size (bytes)        raw     gzip   budget")
    over = []
    for label, name, raw, gz, budget in rows:
        print(f"  {label:<6} {name:<19} {raw:>6} {gz:>8} {budget or '':>8}")
        if budget is not None and gz > budget:
            over.append(f"{label} is {gz} B gzipped, over its {budget} B budget")
    for problem in over:
        print(f"widget size budget exceeded: {problem}", file=sys.stderr)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
