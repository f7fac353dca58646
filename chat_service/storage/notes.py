"""Internal notes: their own collection, so no query of the visitor's path can ever select one.

Only ciphertext, ids, the author's id and a timestamp. Deleted with their conversation (erasure,
retention deletion) and at pseudonymisation (see docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.models import Note
from chat_service.storage.database import translate_errors

COLLECTION = "conversation_notes"


def _note_from_doc(doc: dict[str, Any]) -> Note:
    return Note(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        author_id=doc["author_id"],
        created_at=doc["created_at"],
        text=bytes(doc["text"]),
    )


class NoteStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self._col.create_index([("conversation_id", ASCENDING), ("created_at", ASCENDING)], name="conversation")

    @translate_errors
    async def insert(self, note: Note) -> None:
        await self._col.insert_one(
            {
                "_id": note.id,
                "conversation_id": note.conversation_id,
                "author_id": note.author_id,
                "created_at": note.created_at,
                "text": note.text,
            }
        )

    @translate_errors
    async def delete_of(self, conversation_ids: list[str]) -> None:
        await self._col.delete_many({"conversation_id": {"$in": conversation_ids}})

    @translate_errors
    async def of_conversation(self, conversation_id: str, limit: int) -> list[Note]:
        cursor = self._col.find({"conversation_id": conversation_id}).sort([("created_at", ASCENDING)]).limit(limit)
        return [_note_from_doc(doc) async for doc in cursor]

    async def stream(self, conversation_id: str) -> AsyncIterator[Note]:
        """Every note of a conversation, oldest first (the data-subject export)."""
        async for doc in self._col.find({"conversation_id": conversation_id}).sort([("created_at", ASCENDING)]):
            yield _note_from_doc(doc)
