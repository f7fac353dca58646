"""Fixed-window hit counters shared by every node (abuse limits), for deployments without Redis.

A counter's id is a keyed hash of what is limited plus its window; it holds a count and its
expiry, and the TTL index removes it once the window has passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.storage.database import translate_errors


class RateCounterStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.rate_counters

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("expires_at", ASCENDING)], name="expire", expireAfterSeconds=0)

    @translate_errors
    async def hit(self, counter_id: str, expires_at: datetime) -> int:
        """Count one hit in this window (atomically); returns the count including it."""
        doc = await self._col.find_one_and_update(
            {"_id": counter_id},
            {"$inc": {"n": 1}, "$setOnInsert": {"expires_at": expires_at}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return 1 if doc is None else int(doc["n"])
