"""Wrapped per-conversation data keys, kept in their own collection.

Deleting a document here is crypto-shredding: the conversation's ciphertexts become unreadable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.crypto import WrappedKey
from chat_service.storage.database import translate_errors


def data_key_to_doc(owner_id: str, wrapped: WrappedKey, now: datetime) -> dict[str, Any]:
    return {"_id": owner_id, "master_key_id": wrapped.master_key_id, "wrapped": wrapped.ciphertext, "created_at": now}


class DataKeyStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.data_keys

    @translate_errors
    async def put(self, owner_id: str, wrapped: WrappedKey, now: datetime) -> None:
        await self._col.insert_one(data_key_to_doc(owner_id, wrapped, now))

    @translate_errors
    async def get(self, owner_id: str) -> WrappedKey | None:
        doc = await self._col.find_one({"_id": owner_id})
        if doc is None:
            return None
        return WrappedKey(doc["master_key_id"], bytes(doc["wrapped"]))

    @translate_errors
    async def get_many(self, owner_ids: list[str]) -> dict[str, WrappedKey]:
        found: dict[str, WrappedKey] = {}
        async for doc in self._col.find({"_id": {"$in": owner_ids}}):
            found[doc["_id"]] = WrappedKey(doc["master_key_id"], bytes(doc["wrapped"]))
        return found

    async def not_under(self, master_key_id: str) -> AsyncIterator[tuple[str, WrappedKey]]:
        """Stream keys wrapped under any other master key (for rotation)."""
        cursor = self._col.find({"master_key_id": {"$ne": master_key_id}}, batch_size=500)
        async for doc in cursor:
            yield doc["_id"], WrappedKey(doc["master_key_id"], bytes(doc["wrapped"]))

    @translate_errors
    async def replace(self, owner_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        """Swap the wrapped key only if it is still the one we read (safe against races)."""
        result = await self._col.update_one(
            {"_id": owner_id, "master_key_id": old.master_key_id, "wrapped": old.ciphertext},
            {"$set": {"master_key_id": new.master_key_id, "wrapped": new.ciphertext}},
        )
        return result.modified_count == 1

    @translate_errors
    async def replace_many(self, swaps: list[tuple[str, WrappedKey, WrappedKey]]) -> int:
        """`replace` for many keys in one bulk write; returns how many were swapped."""
        if not swaps:
            return 0
        result = await self._col.bulk_write(
            [
                UpdateOne(
                    {"_id": owner_id, "master_key_id": old.master_key_id, "wrapped": old.ciphertext},
                    {"$set": {"master_key_id": new.master_key_id, "wrapped": new.ciphertext}},
                )
                for owner_id, old, new in swaps
            ],
            ordered=False,
        )
        return result.modified_count

    @translate_errors
    async def count_by_master_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for row in await self._col.aggregate([{"$group": {"_id": "$master_key_id", "n": {"$sum": 1}}}]):
            counts[str(row["_id"])] = int(row["n"])
        return counts

    @translate_errors
    async def delete(self, owner_id: str) -> None:
        await self._col.delete_one({"_id": owner_id})
