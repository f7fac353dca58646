"""Agent presence across nodes: each node records its sockets and refreshes them periodically;
and each agent's chosen status (online, away, offline), which decides who counts as available."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from chat_service.conversations import utcnow
from chat_service.errors import ChatError
from chat_service.logging import get_logger
from chat_service.models import AgentStatus
from chat_service.storage import Database

log = get_logger(__name__)
HEARTBEAT = timedelta(seconds=20)
STALE_AFTER = timedelta(seconds=60)


class Presence:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._clock = clock
        self.node_id = "n" + secrets.token_hex(6)

    async def connected(self, socket_id: str, user_id: str) -> None:
        await self._db.presence.connected(socket_id, user_id, self.node_id, self._clock())

    async def disconnected(self, socket_id: str, user_id: str) -> bool:
        """Forget the socket; True if the user still has another live socket somewhere."""
        await self._db.presence.disconnected(socket_id)
        return user_id in await self.online()

    async def online(self) -> set[str]:
        return await self._db.presence.online_users(self._clock() - STALE_AFTER)

    async def available(self) -> set[str]:
        """Connected agents whose chosen status is `online`: the widget's "someone can answer"."""
        connected = await self.online()
        if not connected:
            return connected
        return connected - await self._db.agent_status.not_online()

    async def set_status(self, user_id: str, status: AgentStatus) -> None:
        await self._db.agent_status.choose(user_id, status, self._clock())

    async def status_of(self, user_id: str) -> AgentStatus:
        return _status(await self._db.agent_status.get(user_id))

    async def statuses(self) -> dict[str, AgentStatus]:
        """Chosen statuses; an agent who never chose one is `online` (while connected)."""
        return {user_id: _status(status) for user_id, status in (await self._db.agent_status.all()).items()}

    async def sockets_of(self, user_id: str) -> list[str]:
        return await self._db.presence.sockets_of(user_id)

    async def run_heartbeat(self) -> None:
        """Keep this node's sockets fresh and drop crashed nodes' leftovers, until cancelled."""
        while True:
            with contextlib.suppress(ChatError):
                now = self._clock()
                await self._db.presence.heartbeat(self.node_id, now)
                await self._db.presence.prune(now - STALE_AFTER * 10)
            await asyncio.sleep(HEARTBEAT.total_seconds())

    async def forget_node(self) -> None:
        with contextlib.suppress(ChatError):
            await self._db.presence.remove_node(self.node_id)


def _status(stored: str | None) -> AgentStatus:
    if stored == "away":
        return "away"
    if stored == "offline":
        return "offline"
    return "online"
