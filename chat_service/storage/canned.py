"""Canned responses: short, shared reply texts (no personal data)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chat_service.errors import Conflict
from chat_service.models import CannedResponse
from chat_service.storage.database import translate_errors


def _from_doc(doc: dict[str, Any]) -> CannedResponse:
    return CannedResponse(doc["_id"], doc["shortcut"], doc["title"], doc["text"], doc["updated_at"])


class CannedStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.canned_responses

    @translate_errors
    async def all(self) -> list[CannedResponse]:
        return [_from_doc(doc) async for doc in self._col.find().sort("shortcut", ASCENDING)]

    @translate_errors
    async def upsert(self, item: CannedResponse) -> None:
        try:
            await self._col.replace_one(
                {"_id": item.id},
                {"shortcut": item.shortcut, "title": item.title, "text": item.text, "updated_at": item.updated_at},
                upsert=True,
            )
        except DuplicateKeyError:
            raise Conflict("Another canned response uses this shortcut.") from None

    @translate_errors
    async def delete(self, item_id: str) -> bool:
        return (await self._col.delete_one({"_id": item_id})).deleted_count == 1
