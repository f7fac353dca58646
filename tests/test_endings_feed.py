"""The endings feed against real SecantusDB: every entry is read once, in order, across pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chat_service.erasure import EndingsWatcher
from chat_service.storage import erasures, open_database
from chat_service.storage.erasures import EndReason
from tests.helpers import SecantusProcess


async def test_every_ended_conversation_is_applied_once_across_pages_and_polls(
    secantus: SecantusProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasures, "PAGE", 3)  # several pages from a handful of entries
    now = datetime.now(UTC)
    applied: list[tuple[str, EndReason]] = []
    dropped_keys: list[str] = []

    async def close_sockets(conversation_id: str, reason: EndReason) -> None:
        applied.append((conversation_id, reason))

    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        watcher = EndingsWatcher(db, dropped_keys.append, close_sockets, poll_seconds=1, clock=lambda: now)
        same_moment = now - timedelta(seconds=1)
        for i in range(4):  # four entries written at the same millisecond: paging must not loop or skip
            await db.endings.record([f"c{i}a", f"c{i}b"], "erased", same_moment)
        await db.endings.record(["old"], "erased", now - timedelta(minutes=5))  # before this node started
        await db.endings.record(["tab"], "forgotten", now)
        assert await watcher.poll_once() == 9
        assert await watcher.poll_once() == 0  # nothing twice
        await db.endings.record(["late"], "erased", now - timedelta(seconds=5))  # a writer's clock behind ours
        assert await watcher.poll_once() == 1

    assert sorted(c for c, _ in applied) == sorted([*(f"c{i}{s}" for i in range(4) for s in "ab"), "tab", "late"])
    assert ("tab", "forgotten") in applied
    assert "tab" not in dropped_keys and "late" in dropped_keys and "old" not in dropped_keys
