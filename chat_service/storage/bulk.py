"""Bulk loading for benchmarks and imports: the same document format as the one-by-one writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from chat_service.crypto import WrappedKey
from chat_service.models import Conversation, Message
from chat_service.storage.conversations import conversation_to_doc, message_to_doc
from chat_service.storage.database import translate_errors
from chat_service.storage.keys import data_key_to_doc


class BulkLoader:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._db = db

    @translate_errors
    async def insert(
        self,
        keys: Sequence[tuple[str, WrappedKey, datetime]],
        conversations: Sequence[Conversation],
        messages: Sequence[Message],
    ) -> None:
        """Keys first, as in `Conversations.start`: a conversation never exists without its key."""
        await self._db.data_keys.insert_many([data_key_to_doc(*k) for k in keys], ordered=False)
        await self._db.conversations.insert_many([conversation_to_doc(c) for c in conversations], ordered=False)
        await self._db.messages.insert_many([message_to_doc(m) for m in messages], ordered=False)
