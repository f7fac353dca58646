"""Batched writes for the write pipeline: many messages in one `insert_many`, their conversations'
bookkeeping in one `bulk_write`. Per-document outcomes come back so each caller gets its own answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError
from pymongo.results import BulkWriteResult

from chat_service.errors import StorageUnavailable
from chat_service.models import Conversation, Message
from chat_service.storage.conversations import _conversation_from_doc, message_to_doc
from chat_service.storage.database import DURABLE, translate_errors

DUPLICATE_KEY = 11000
# A bookkeeping transaction that meets a write conflict (an agent closing the same conversation)
# is retried for this long; a database that is down fails the batch at once instead.
TRANSACTION_RETRY_S = 2.0


class Inserted(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"  # the unique index says this sender already sent this client id here
    FAILED = "failed"


@dataclass(frozen=True)
class Activity:
    """What a batch's new messages change in one conversation."""

    conversation_id: str
    count: int
    last_message_id: str
    last_at: datetime
    # A visitor message reopens a closed conversation; its id marks which message did it.
    reopen_by: str | None = None


class BatchStore:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: AsyncDatabase[dict[str, Any]]):
        self._client = client
        self._messages = db.messages
        self._conversations = db.conversations

    @translate_errors
    async def insert_messages(self, messages: Sequence[Message]) -> list[Inserted]:
        """One unordered `insert_many`; the outcome of each message, in order."""
        if not messages:
            return []
        try:
            await self._messages.insert_many([message_to_doc(m) for m in messages], ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            if details.get("writeConcernErrors"):
                # Written but not known to be journaled on a majority: nothing here may be acked.
                raise StorageUnavailable() from exc
            outcomes = [Inserted.NEW] * len(messages)
            for error in details.get("writeErrors", []):
                code = error.get("code")
                outcomes[error["index"]] = Inserted.DUPLICATE if code == DUPLICATE_KEY else Inserted.FAILED
            return outcomes
        return [Inserted.NEW] * len(messages)

    @translate_errors
    async def record_activity(self, activities: Sequence[Activity]) -> dict[str, Conversation]:
        """Count new messages and move the activity clocks in one unordered `bulk_write`.

        The bulk runs in a transaction: on SecantusDB each update outside one is a commit (and an
        fsync) of its own, in one it is a single commit for the whole batch; on MongoDB it keeps a
        batch's bookkeeping all-or-nothing.

        A reopen is an update guarded on `status: "closed"` in the same bulk, not a read first.
        The bulk result only counts matches, so the conversations are read back (one query per
        batch) only when more updates matched than there are conversations, i.e. some reopened.
        Returns the reopened conversations by id, with the id of the message that reopened each
        in `reopen_by` of the activity (checked against the stored mark).
        """
        if not activities:
            return {}
        ops: list[UpdateOne] = []
        for act in activities:
            ops.append(
                UpdateOne(
                    {"_id": act.conversation_id},
                    {
                        "$inc": {"message_count": act.count},
                        "$max": {"last_activity_at": act.last_at},
                        "$set": {"last_message_id": act.last_message_id},
                    },
                )
            )
        reopen = {a.conversation_id: a.reopen_by for a in activities if a.reopen_by is not None}
        for conversation_id, message_id in reopen.items():
            ops.append(
                UpdateOne(
                    {"_id": conversation_id, "status": "closed"},
                    {"$set": {"status": "open", "closed_at": None, "reopened_by": message_id}},
                )
            )
        result = await self._bulk_in_transaction(ops)
        if not reopen or result.matched_count <= len(activities):
            return {}
        reopened: dict[str, Conversation] = {}
        async for doc in self._conversations.find({"_id": {"$in": list(reopen)}}):
            if doc.get("reopened_by") == reopen[doc["_id"]]:
                reopened[doc["_id"]] = _conversation_from_doc(doc)
        return reopened

    async def _bulk_in_transaction(self, ops: list[UpdateOne]) -> BulkWriteResult:
        deadline = time.monotonic() + TRANSACTION_RETRY_S
        while True:
            try:
                async with self._client.start_session() as session:
                    async with await session.start_transaction(write_concern=DURABLE):
                        return await self._conversations.bulk_write(ops, ordered=False, session=session)
            except BulkWriteError as exc:
                raise StorageUnavailable() from exc
            except ConnectionFailure:
                raise
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError") or time.monotonic() > deadline:
                    raise StorageUnavailable() from exc
