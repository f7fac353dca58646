"""The "waiting too long" notice: the site's team is e-mailed once when a conversation has waited
`CHAT_WAITING_NOTIFY_MINUTES` for an agent (off by default).

Every node looks; one sends. A conversation's notice is claimed by a guarded update
(`waiting_notified_at` set only where it is missing) in the same transaction as the outbox
delivery, so however many nodes look at once, exactly one delivery is written, and the outbox
worker's own leases send it once (at least once across crashes, with a stable id).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_service.crypto import DataKey, KeyRingSource
from chat_service.errors import ChatError, DecryptionFailed
from chat_service.logging import get_logger
from chat_service.models import Conversation
from chat_service.outbox.events import Outbox
from chat_service.storage import Database

log = get_logger(__name__)
BATCH = 100


class WaitingNotifier:
    def __init__(
        self,
        db: Database,
        keys: KeyRingSource,
        outbox: Outbox,
        *,
        minutes: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._db = db
        self._keys = keys
        self._outbox = outbox
        self._minutes = minutes
        self._clock = clock

    @property
    def poll_seconds(self) -> float:
        """Often enough to be late by a small part of the wait; never more than once every 5 s."""
        return max(5.0, min(60.0, self._minutes * 60 / 10))

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except ChatError as exc:
                log.warning("waiting_notice_failed", code=exc.code)
            await asyncio.sleep(self.poll_seconds)

    async def run_once(self) -> int:
        """Queue the notice of every conversation waiting too long; returns how many this node queued."""
        now = self._clock()
        queued = 0
        for conv in await self._db.conversations.waiting_unnoticed(now - timedelta(minutes=self._minutes), BATCH):
            if await self._notify(conv, now):
                queued += 1
        return queued

    async def _notify(self, conv: Conversation, now: datetime) -> bool:
        key = await self._key(conv.id)
        if key is None:
            return False  # erased meanwhile
        # None without a team address or SMTP: the conversation is still marked, so it is not looked at again.
        deliveries = self._outbox.waiting_mail(key, conv, self._minutes)

        async def claim(session: Any) -> Conversation | None:
            return await self._db.conversations.mark_waiting_notified(conv.id, now, session=session)

        claimed = await self._outbox.write(
            claim, lambda won: deliveries if won is not None else [], listening=bool(deliveries)
        )
        if claimed is None or not deliveries:
            return False
        log.info("waiting_notice_queued", conversation_id=conv.id, minutes=self._minutes)
        return True

    async def _key(self, conversation_id: str) -> DataKey | None:
        wrapped = await self._db.data_keys.get(conversation_id)
        if wrapped is None:
            return None
        with contextlib.suppress(DecryptionFailed):
            return self._keys.current().unwrap(conversation_id, wrapped)
        return None
