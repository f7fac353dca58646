"""Make an ended conversation end on every node: drop its cached data key, close its visitor sockets.

Erasure and deletion write an entry to the endings feed in the same transaction that deletes the
conversation (and "forget this device" writes one too); each node polls the feed, so an erasure
made on another node or by `chat-service privacy erase` reaches every node within one poll
interval, Redis or not. The node that erases acts at once. The feed is only about promptness:
the message store refuses a conversation that no longer exists even if a node never hears of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from chat_service.errors import ChatError
from chat_service.logging import get_logger
from chat_service.storage import Database
from chat_service.storage.erasures import EndReason

log = get_logger(__name__)
# Writers' clocks (other nodes, the CLI host) may run behind ours: read back this far. Entries
# already applied are skipped; an erasure is one entry, a retention batch too, so this stays small.
CLOCK_SLACK = timedelta(seconds=30)

CloseSockets = Callable[[str, EndReason], Awaitable[None]]


class EndingsWatcher:
    def __init__(
        self,
        db: Database,
        forget_key: Callable[[str], None],
        close_sockets: CloseSockets,
        *,
        poll_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._db = db
        self._forget_key = forget_key
        self._close_sockets = close_sockets
        self._poll = poll_seconds
        self._clock = clock
        self._seen: dict[str, datetime] = {}
        self._last_poll = clock()

    async def apply(self, conversation_id: str, reason: EndReason) -> None:
        """Act on one ended conversation on this node (idempotent)."""
        if reason == "erased":
            self._forget_key(conversation_id)
        await self._close_sockets(conversation_id, reason)

    async def poll_once(self) -> int:
        """Apply every feed entry not seen yet; returns how many conversations ended."""
        started = self._clock()
        entries = await self._db.endings.since(self._last_poll - CLOCK_SLACK)
        fresh = [e for e in entries if str(e.entry_id) not in self._seen]
        ended = 0
        for entry in fresh:
            self._seen[str(entry.entry_id)] = entry.at
            for conversation_id in entry.conversation_ids:
                await self.apply(conversation_id, entry.reason)
                ended += 1
        self._last_poll = started
        horizon = started - 2 * CLOCK_SLACK
        self._seen = {k: at for k, at in self._seen.items() if at >= horizon}
        return ended

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                await self.poll_once()
            except ChatError as exc:  # the database is briefly away: try again next round
                log.warning("endings_poll_failed", code=exc.code)
            except Exception:
                log.exception("endings_poll_crashed")


ENDINGS = web.AppKey("endings", EndingsWatcher)
