"""The feed of conversations whose visitor side has ended (erased, deleted or forgotten).

Every node polls it to drop cached data keys and close the conversation's visitor sockets, so an
erasure made on another node or from the CLI reaches them without a shared message bus. One entry
per deletion (a retention batch is one entry) holds conversation ids, a reason and a time only,
and expires after a day (TTL index).
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
PAGE = 500


@dataclass(frozen=True)
class Ended:
    entry_id: ObjectId
    conversation_ids: tuple[str, ...]
    reason: EndReason
    at: datetime


def ended_doc(conversation_ids: Sequence[str], reason: EndReason, at: datetime) -> dict[str, Any]:
    return {"_id": ObjectId(), "conversation_ids": list(conversation_ids), "reason": reason, "at": at}


def _ended(doc: dict[str, Any]) -> Ended:
    return Ended(doc["_id"], tuple(doc["conversation_ids"]), doc["reason"], doc["at"])


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
            await self._col.insert_one(ended_doc(conversation_ids, reason, at), session=session)

    @translate_errors
    async def since(self, after: datetime) -> list[Ended]:
        """Every entry written at or after `after`, oldest first (read in pages by time and id)."""
        found: list[Ended] = []
        query: dict[str, Any] = {"at": {"$gte": after}}
        while True:
            cursor = self._col.find(query).sort([("at", ASCENDING), ("_id", ASCENDING)]).limit(PAGE)
            page = [_ended(doc) async for doc in cursor]
            found.extend(page)
            if len(page) < PAGE:
                return found
            last = page[-1]
            query = {"$or": [{"at": {"$gt": last.at}}, {"at": last.at, "_id": {"$gt": last.entry_id}}]}
