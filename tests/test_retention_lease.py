"""Retention lease recovery: a `chat-retention run` killed from outside while it holds the lease
keeps every other run out until the lease expires; then the next run takes over and finishes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SecantusProcess, wait_for
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago

LEASE_SECONDS = 10


@pytest.fixture
def renv(secantus: SecantusProcess, tmp_path: Path) -> RetentionEnv:
    return RetentionEnv(secantus.uri, tmp_path / "retention")


async def test_a_killed_run_holds_others_off_until_its_lease_expires_then_one_takes_over(renv: RetentionEnv) -> None:
    renv.extra_env.update({"CHAT_RETENTION_BATCH_SIZE": "2", "CHAT_RETENTION_LEASE_SECONDS": str(LEASE_SECONDS)})
    async with renv.open() as (_, seed):
        ids = [
            await seed.conversation(days_ago(40 - 0.001 * i), [f"Bericht {i}"], visitor=Visitor(name=f"Persoon {i}"))
            for i in range(80)
        ]
    db = renv.raw()
    first = renv.start_retention("run", "--now", NOW.isoformat())
    # Mid-run: it holds the lease and has committed at least one batch.
    wait_for(
        lambda: (
            db.retention_leases.find_one({"_id": "retention"})
            and db.conversations.count_documents({"pseudonymised": {"$exists": True}}) > 0
        ),
        timeout=60,
        interval=0.01,
        what="the first run to hold the lease and commit a batch",
    )
    first.send_signal(signal.SIGSTOP)  # frozen while holding the lease, then killed: it never releases it
    lease = db.retention_leases.find_one({"_id": "retention"})
    assert lease is not None, "the first run finished before it could be killed; seed more conversations"
    first.kill()
    first.wait()
    acted_before = db.conversations.count_documents({"pseudonymised": {"$exists": True}})
    assert 0 < acted_before < len(ids)

    # While the dead holder's lease lasts, another run is skipped and acts on nothing.
    def run() -> dict[str, Any]:
        result = renv.retention("run", "--now", NOW.isoformat(), "--json")
        assert result.returncode == 0, result.stderr
        summary: dict[str, Any] = json.loads(result.stdout)
        return summary

    first_try = run()
    if first_try["status"] != "skipped":  # only once the frozen holder's lease had run out
        assert datetime.now(UTC) >= lease["expires_at"].replace(tzinfo=UTC), first_try
    else:  # skipped: it acted on nothing
        assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == acted_before

    # After it, one run takes over and finishes what the killed one left.
    runs = [first_try]
    deadline = time.monotonic() + LEASE_SECONDS + 60
    while runs[-1]["status"] == "skipped":
        assert time.monotonic() < deadline, "no run took over after the lease expired"
        await asyncio.sleep(0.5)  # polling the lease: its expiry is the point
        runs.append(run())
    takeover = runs[-1]
    assert takeover["status"] == "done"
    assert takeover["policies"]["pseudonymise-30d"]["done"] == len(ids) - acted_before
    assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == len(ids)
    assert db.retention_leases.count_documents({}) == 0  # released by the run that finished
