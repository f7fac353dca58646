"""The feed of conversations whose visitor side has ended (erased, deleted or forgotten).

Every node polls it to drop cached data keys and close the conversation's visitor sockets, so an
erasure made on another node or from the CLI reaches them without a shared message bus. Entries
hold a conversation id, a reason and a time only, and expire after a day (TTL index).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.storage.database import translate_errors

EndReason = Literal["erased", "forgotten"]
FEED_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Ended:
    entry_id: str
    conversation_id: str
    reason: EndReason
    at: datetime


def ended_docs(conversation_ids: Sequence[str], reason: EndReason, at: datetime) -> list[dict[str, Any]]:
    return [{"_id": ObjectId(), "conversation_id": c, "reason": reason, "at": at} for c in conversation_ids]


class ErasureFeedStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.conversation_endings

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("at", ASCENDING)], name="expire", expireAfterSeconds=FEED_TTL_SECONDS)

    @translate_errors
    async def record(
        self,
        conversation_ids: Sequence[str],
        reason: EndReason,
        at: datetime,
        session: AsyncClientSession | None = None,
    ) -> None:
        if conversation_ids:
            await self._col.insert_many(ended_docs(conversation_ids, reason, at), session=session)

    @translate_errors
    async def since(self, after: datetime, limit: int = 1000) -> list[Ended]:
        cursor = self._col.find({"at": {"$gte": after}}).sort([("at", ASCENDING)]).limit(limit)
        return [Ended(str(d["_id"]), d["conversation_id"], d["reason"], d["at"]) async for d in cursor]
