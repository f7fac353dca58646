"""Attach a file to a conversation and read it back.

A file is checked and cleaned by its content (`content.py`), split into chunks of `CHUNK_BYTES`,
and each chunk is encrypted under the conversation's data key with associated data naming the
file, the chunk's place, the number of chunks, the size and the kind: chunks cannot be reordered,
swapped between files, dropped or served as another kind without failing to authenticate. The
chunks are journaled before the message that carries the file goes through the conversation's
write path; so the acknowledgement means both are on disk.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime

from chat_service.attachments.content import CleanFile, display_name, inspect_file
from chat_service.conversations import Announce, Conversations, FileInfo, MessageView, utcnow
from chat_service.crypto import DataKey, FieldRef
from chat_service.errors import ConversationClosed, DecryptionFailed, NotFound, PayloadTooLarge
from chat_service.logging import get_logger
from chat_service.models import Conversation, User
from chat_service.storage import Database
from chat_service.storage.attachments import StoredFile

log = get_logger(__name__)
CHUNK_BYTES = 256 * 1024
# Images decoded at once per process: each may hold its pixel budget in memory several times over.
DECODERS = 2


def new_file_id() -> str:
    return "f" + secrets.token_hex(12)


def chunk_ref(file: StoredFile, n: int) -> FieldRef:
    return FieldRef("attachment_chunks", file.id, f"{n}/{file.chunks}/{file.size}/{file.type}")


def seal_chunks(key: DataKey, file: StoredFile, data: bytes) -> list[bytes]:
    return [
        key.encrypt_bytes(chunk_ref(file, n), data[n * CHUNK_BYTES : (n + 1) * CHUNK_BYTES]) for n in range(file.chunks)
    ]


def open_chunks(key: DataKey, file: StoredFile, stored: Sequence[tuple[int, bytes]]) -> bytes:
    """The file's bytes; `DecryptionFailed` if a chunk is missing, extra, moved or altered."""
    if [n for n, _ in stored] != list(range(file.chunks)):
        raise DecryptionFailed()
    data = b"".join(key.decrypt_bytes(chunk_ref(file, n), blob) for n, blob in stored)
    if len(data) != file.size:
        raise DecryptionFailed()
    return data


async def read_file(db: Database, key: DataKey, file: StoredFile) -> bytes:
    return open_chunks(key, file, await db.attachments.chunks(file))


class Attachments:
    def __init__(
        self,
        db: Database,
        conversations: Conversations,
        *,
        max_bytes: int,
        max_pixels: int,
        clock: Callable[[], datetime] = utcnow,
    ):
        self._db = db
        self._conversations = conversations
        self.max_bytes = max_bytes
        self._max_pixels = max_pixels
        self._clock = clock
        self._decoders = asyncio.Semaphore(DECODERS)

    async def clean(self, data: bytes) -> CleanFile:
        """Check and clean in a worker thread (decoding an image takes CPU time)."""
        async with self._decoders:
            clean = await asyncio.to_thread(inspect_file, data, self._max_pixels)
        if len(clean.data) > self.max_bytes:
            # Re-encoding can grow a file that was just under the limit.
            raise PayloadTooLarge(
                "The file is over the size limit once cleaned.", details={"max_bytes": self.max_bytes}
            )
        return clean

    async def attach(
        self,
        conversation: Conversation,
        client_id: str,
        name: str | None,
        data: bytes,
        *,
        agent: User | None = None,
        announce: Announce | None = None,
    ) -> tuple[MessageView, bool, Conversation | None]:
        """Store the file and the message that carries it, from the visitor or from `agent`.

        Returns the message, whether it is new (a resend with the same client id answers the first
        copy, and the second file is deleted again), and the conversation if the message reopened it.
        """
        if agent is not None and conversation.status == "closed":
            raise ConversationClosed()
        clean = await self.clean(data)
        key = await self._conversations.data_key(conversation.id)
        size = len(clean.data)
        file = StoredFile(
            id=new_file_id(),
            conversation_id=conversation.id,
            type=clean.type,
            size=size,
            chunks=max(1, math.ceil(size / CHUNK_BYTES)),
            created_at=self._clock(),
        )
        await self._db.attachments.put(file, seal_chunks(key, file, clean.data))
        info = FileInfo(file.id, display_name(name, clean.type), clean.type, size)
        view, is_new, reopened = await self._conversations.send_file(
            conversation.id, client_id, info, agent=agent, announce=announce
        )
        if not is_new:
            await self._db.attachments.delete_file(file.id)
        log.info("attachment_stored", conversation_id=conversation.id, file_id=file.id, type=file.type, size=size)
        return view, is_new, reopened

    async def find(self, file_id: str) -> StoredFile:
        file = await self._db.attachments.get(file_id)
        if file is None:
            raise NotFound("No such file.")
        return file

    async def read(self, file: StoredFile) -> bytes:
        key = await self._conversations.data_key(file.conversation_id)
        try:
            return await read_file(self._db, key, file)
        except DecryptionFailed:
            log.warning("attachment_unreadable", conversation_id=file.conversation_id, file_id=file.id)
            raise
