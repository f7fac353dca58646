"""Attached files: one document per file and its chunks, ciphertext only.

The domain (`chat_service.attachments`) splits a file into chunks and encrypts each under the
conversation's data key, bound to the file and the chunk's place; this store keeps what it is
given. Chunks go first and the file's document last, so a file is never listed without its chunks.
Every file names its conversation: deleting a conversation deletes its files (see retention).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from chat_service.models import AttachmentRef
from chat_service.storage.database import translate_errors

FILES = "attachments"
CHUNKS = "attachment_chunks"


@dataclass(frozen=True)
class StoredFile:
    """A file's document: what serving it needs, nothing personal (its name is on its message)."""

    id: str
    conversation_id: str
    type: str
    size: int
    chunks: int
    created_at: datetime


def attachment_fields(ref: AttachmentRef | None) -> dict[str, Any]:
    """A message document's `attachment` field (nothing when the message carries no file)."""
    if ref is None:
        return {}
    doc: dict[str, Any] = {"id": ref.id, "type": ref.type, "size": ref.size}
    if ref.removed:
        doc["removed"] = True
    else:
        doc["name"] = ref.name
    return {"attachment": doc}


def attachment_from_doc(doc: dict[str, Any] | None) -> AttachmentRef | None:
    if doc is None:
        return None
    return AttachmentRef(
        id=doc["id"],
        type=doc["type"],
        size=int(doc["size"]),
        name=bytes(doc.get("name", b"")),
        removed=bool(doc.get("removed", False)),
    )


def _file_from_doc(doc: dict[str, Any]) -> StoredFile:
    return StoredFile(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        type=doc["type"],
        size=int(doc["size"]),
        chunks=int(doc["chunks"]),
        created_at=doc["created_at"],
    )


async def delete_files(
    db: AsyncDatabase[dict[str, Any]], conversation_ids: Sequence[str], session: AsyncClientSession | None = None
) -> int:
    """Delete every file of these conversations, chunks first; returns how many files went."""
    query = {"conversation_id": {"$in": list(conversation_ids)}}
    await db[CHUNKS].delete_many(query, session=session)
    return (await db[FILES].delete_many(query, session=session)).deleted_count


class AttachmentStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._db = db
        self._files = db[FILES]
        self._chunks = db[CHUNKS]

    async def ensure_indexes(self) -> None:
        await self._files.create_index([("conversation_id", ASCENDING)], name="conversation")
        await self._chunks.create_index([("conversation_id", ASCENDING)], name="conversation")
        await self._chunks.create_index([("file_id", ASCENDING), ("n", ASCENDING)], unique=True, name="file_chunks")

    @translate_errors
    async def put(self, file: StoredFile, chunks: Sequence[bytes]) -> None:
        """Store the encrypted chunks, then the file's document (each write journaled on a majority)."""
        if len(chunks) != file.chunks:
            raise ValueError("the chunk count does not match the file")
        if chunks:
            await self._chunks.insert_many(
                [
                    {
                        "_id": f"{file.id}.{n}",
                        "file_id": file.id,
                        "conversation_id": file.conversation_id,
                        "n": n,
                        "data": c,
                    }
                    for n, c in enumerate(chunks)
                ],
                ordered=True,
            )
        await self._files.insert_one(
            {
                "_id": file.id,
                "conversation_id": file.conversation_id,
                "type": file.type,
                "size": file.size,
                "chunks": file.chunks,
                "created_at": file.created_at,
            }
        )

    @translate_errors
    async def get(self, file_id: str) -> StoredFile | None:
        doc = await self._files.find_one({"_id": file_id})
        return None if doc is None else _file_from_doc(doc)

    @translate_errors
    async def chunks(self, file: StoredFile) -> list[tuple[int, bytes]]:
        """The stored chunks as (index, ciphertext), in index order; the caller checks that they authenticate."""
        cursor = self._chunks.find({"file_id": file.id}).sort([("n", ASCENDING)])
        return [(int(doc["n"]), bytes(doc["data"])) async for doc in cursor]

    @translate_errors
    async def delete_file(self, file_id: str) -> None:
        await self._chunks.delete_many({"file_id": file_id})
        await self._files.delete_one({"_id": file_id})
