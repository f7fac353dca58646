"""Internal notes: what agents write to each other about a conversation.

Sealed under the conversation's data key like its messages, but kept in a collection of their
own (`storage/notes.py`): the visitor's path (history, resume, the `/visitor` namespace), the
outbox (webhooks, bots, e-mail) and the write pipeline never read it, so a note cannot reach them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat_service.conversations import Conversations, iso, utcnow
from chat_service.crypto import DataKey, FieldRef
from chat_service.errors import DecryptionFailed, NotFound
from chat_service.logging import get_logger
from chat_service.models import Note
from chat_service.storage import Database

log = get_logger(__name__)
NOTES_LIMIT = 200


def new_note_id() -> str:
    return "n" + secrets.token_hex(12)


def note_ref(note_id: str) -> FieldRef:
    return FieldRef("notes", note_id, "text")


@dataclass(frozen=True)
class NoteView:
    id: str
    conversation_id: str
    author_id: str
    text: str
    created_at: datetime
    unreadable: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "sender": "note",  # the shared wire contract: a note is never a message to anyone outside
            "author_id": self.author_id,
            "text": self.text,
            "created_at": iso(self.created_at),
        }
        if self.unreadable:
            wire["unreadable"] = True
        return wire


def open_note(key: DataKey, note: Note) -> NoteView:
    try:
        text, unreadable = key.decrypt(note_ref(note.id), note.text), False
    except DecryptionFailed:
        log.warning("note_unreadable", conversation_id=note.conversation_id, note_id=note.id)
        text, unreadable = "", True
    return NoteView(note.id, note.conversation_id, note.author_id, text, note.created_at, unreadable)


class Notes:
    def __init__(self, db: Database, conversations: Conversations, *, clock: Callable[[], datetime] = utcnow):
        self._db = db
        self._conversations = conversations
        self._clock = clock

    async def add(self, author_id: str, conversation_id: str, text: str) -> NoteView:
        await self._conversations.get(conversation_id)  # NotFound for an unknown or erased one
        key = await self._conversations.data_key(conversation_id)
        note_id = new_note_id()
        note = Note(note_id, conversation_id, author_id, self._clock(), key.encrypt(note_ref(note_id), text))
        await self._db.notes.insert(note)
        if await self._db.conversations.get(conversation_id) is None:
            # Erased meanwhile: no note may outlive its conversation.
            await self._db.notes.delete_of([conversation_id])
            raise NotFound("This conversation no longer exists.")
        return NoteView(note.id, conversation_id, author_id, text, note.created_at)

    async def of_conversation(self, conversation_id: str) -> list[NoteView]:
        notes = await self._db.notes.of_conversation(conversation_id, NOTES_LIMIT)
        if not notes:
            return []
        key = await self._conversations.data_key(conversation_id)
        return [open_note(key, n) for n in notes]
