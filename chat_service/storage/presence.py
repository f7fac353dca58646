"""Which agents are connected, across every node: one document per agent socket.

Each node refreshes its own sockets' `seen_at`; entries of a crashed node age out, so presence
never depends on a node shutting down cleanly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chat_service.storage.database import translate_errors


class PresenceStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.agent_presence

    @translate_errors
    async def connected(self, socket_id: str, user_id: str, node_id: str, at: datetime) -> None:
        await self._col.replace_one(
            {"_id": socket_id}, {"user_id": user_id, "node_id": node_id, "seen_at": at}, upsert=True
        )

    @translate_errors
    async def disconnected(self, socket_id: str) -> None:
        await self._col.delete_one({"_id": socket_id})

    @translate_errors
    async def heartbeat(self, node_id: str, at: datetime) -> None:
        await self._col.update_many({"node_id": node_id}, {"$set": {"seen_at": at}})

    @translate_errors
    async def online_users(self, since: datetime) -> set[str]:
        return {str(u) for u in await self._col.distinct("user_id", {"seen_at": {"$gte": since}})}

    @translate_errors
    async def sockets_of(self, user_id: str) -> list[str]:
        return [str(doc["_id"]) async for doc in self._col.find({"user_id": user_id}, {"_id": 1})]

    @translate_errors
    async def prune(self, before: datetime) -> None:
        await self._col.delete_many({"seen_at": {"$lt": before}})

    @translate_errors
    async def remove_node(self, node_id: str) -> None:
        await self._col.delete_many({"node_id": node_id})


class AgentStatusStore:
    """The status each agent chose in the console (online, away, offline): one small document per
    agent who ever changed it, kept while the account exists, so it survives reconnects."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.agent_status

    @translate_errors
    async def choose(self, user_id: str, status: str, at: datetime) -> None:
        await self._col.replace_one({"_id": user_id}, {"status": status, "updated_at": at}, upsert=True)

    @translate_errors
    async def get(self, user_id: str) -> str | None:
        doc = await self._col.find_one({"_id": user_id})
        return None if doc is None else str(doc["status"])

    @translate_errors
    async def not_online(self) -> set[str]:
        """Agents who chose away or offline (everyone else counts as online while connected)."""
        return {str(doc["_id"]) async for doc in self._col.find({"status": {"$ne": "online"}}, {"_id": 1})}

    @translate_errors
    async def all(self) -> dict[str, str]:
        return {str(doc["_id"]): str(doc["status"]) async for doc in self._col.find()}
