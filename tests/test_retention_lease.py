"""Retention lease recovery: a `chat-retention run` killed from outside while it holds the lease
keeps every other run out until the lease expires; then the next run takes over and finishes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import SecantusProcess, wait_for
from tests.retention_helpers import NOW, RetentionEnv, Visitor, days_ago

LEASE_SECONDS = 4


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
    killed_at = time.monotonic()
    acted_before = db.conversations.count_documents({"pseudonymised": {"$exists": True}})
    assert 0 < acted_before < len(ids)

    # While the lease lasts, another run acts on nothing.
    blocked = renv.retention("run", "--now", NOW.isoformat(), "--json")
    if time.monotonic() - killed_at < LEASE_SECONDS:
        assert blocked.returncode == 0 and json.loads(blocked.stdout)["status"] == "skipped"
        assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == acted_before

    # After it, one run takes over and finishes what the killed one left.
    def finished() -> dict[str, object] | None:
        result = renv.retention("run", "--now", NOW.isoformat(), "--json")
        assert result.returncode == 0, result.stderr
        summary: dict[str, object] = json.loads(result.stdout)
        return None if summary["status"] == "skipped" else summary

    summary = wait_for(finished, timeout=LEASE_SECONDS + 60, interval=0.5, what="a run after the lease expired")
    assert summary["status"] == "done"
    assert db.conversations.count_documents({"pseudonymised": {"$exists": True}}) == len(ids)
    assert summary["policies"]["pseudonymise-30d"]["done"] == len(ids) - acted_before  # type: ignore[index]
    assert db.retention_leases.count_documents({}) == 0  # released by the run that finished
