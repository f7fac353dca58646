"""Batched writes for the write pipeline: many messages in one `insert_many`, their conversations'
bookkeeping in one `bulk_write`. Per-document outcomes come back so each caller gets its own answer."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from chat_service.errors import StorageUnavailable
from chat_service.models import Conversation, Message
from chat_service.storage.conversations import _conversation_from_doc, _message_from_doc, message_to_doc
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
    # The batch's earliest agent message: `$min` keeps the conversation's first response time.
    first_agent_at: datetime | None = None


class BatchStore:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: AsyncDatabase[dict[str, Any]]):
        self._client = client
        self._messages = db.messages
        self._conversations = db.conversations
        self._outbox = db.outbox

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
    async def record_activity(
        self,
        activities: Sequence[Activity],
        *,
        messages: Sequence[Message] = (),
        outbox: Sequence[dict[str, Any]] = (),
    ) -> tuple[dict[str, Conversation], set[str]]:
        """Count new messages and move the activity clocks: one unordered `bulk_write`, one update
        per conversation, in one transaction.

        The transaction: on SecantusDB each update outside one is a commit (and an fsync) of its
        own, inside one the batch commits once; on MongoDB it keeps a batch's bookkeeping
        all-or-nothing and the two steps below consistent with a concurrent close.

        Reopening without a read first: a conversation with visitor messages is updated guarded
        on `status != "closed"`. The bulk result only counts matches; when fewer matched than
        there are conversations, a second bulk in the same transaction applies the bookkeeping
        and the reopen, guarded on `status: "closed"`, marking the message that reopened it.
        Only if that matched anything are the candidates read back (one query). A batch that
        touches one conversation (a quiet moment) skips the transaction. Returns the reopened
        conversations by id (after the change), and the ids of conversations that no longer exist
        (erased meanwhile: their messages in this batch must not stay behind as orphans).

        `messages` and `outbox` (delivery documents) are inserted in the same transaction first:
        a batch that reports its messages to webhooks or e-mail stores message, delivery and
        bookkeeping together or not at all (transactional outbox).
        """
        if not activities and not messages:
            return {}, set()
        guarded = {a.conversation_id: a for a in activities if a.reopen_by is not None}
        first = [
            UpdateOne(
                {"_id": a.conversation_id, "status": {"$ne": "closed"}} if a.reopen_by else {"_id": a.conversation_id},
                _bookkeeping(a),
            )
            for a in activities
        ]
        reopen = [
            UpdateOne(
                {"_id": a.conversation_id, "status": "closed"},
                _bookkeeping(a, {"status": "open", "closed_at": None, "reopened_by": a.reopen_by}),
            )
            for a in guarded.values()
        ]

        matched = [0, 0]

        async def work(session: AsyncClientSession) -> int:
            if messages:
                await self._messages.insert_many([message_to_doc(m) for m in messages], ordered=False, session=session)
            if outbox:
                await self._outbox.insert_many(list(outbox), ordered=False, session=session)
            if not first:
                return 0
            result = await self._conversations.bulk_write(first, ordered=False, session=session)
            matched[0], matched[1] = result.matched_count, 0
            if not reopen or result.matched_count == len(first):
                return 0
            second = await self._conversations.bulk_write(reopen, ordered=False, session=session)
            matched[1] = second.matched_count
            return second.matched_count

        missing: set[str] = set()
        if len(activities) == 1 and not messages:
            outcome = await self._record_one(first[0], reopen[0] if reopen else None)
            if outcome is None:
                return {}, await self._missing(activities)
            if not outcome:
                return {}, missing
        else:
            reopened_count = await self._in_transaction(work)
            if sum(matched) < len(activities):
                missing = await self._missing(activities)
            if not reopened_count:
                return {}, missing
        reopened: dict[str, Conversation] = {}
        async for doc in self._conversations.find({"_id": {"$in": [c for c in guarded if c not in missing]}}):
            if doc.get("reopened_by") == guarded[doc["_id"]].reopen_by:
                reopened[doc["_id"]] = _conversation_from_doc(doc)
        return reopened, missing

    async def _missing(self, activities: Sequence[Activity]) -> set[str]:
        """Conversations of the batch that no longer exist (rare: only when fewer matched)."""
        ids = [a.conversation_id for a in activities]
        found = {doc["_id"] async for doc in self._conversations.find({"_id": {"$in": ids}}, {"_id": 1})}
        return set(ids) - found

    @translate_errors
    async def delete_orphans(self, message_ids: Sequence[str], conversation_ids: Sequence[str]) -> None:
        """Remove what a batch wrote for conversations erased while it was being written."""
        if message_ids:
            await self._messages.delete_many({"_id": {"$in": list(message_ids)}})
        if conversation_ids:
            await self._outbox.delete_many({"conversation_id": {"$in": list(conversation_ids)}})

    @translate_errors
    async def stored_copies(self, messages: Sequence[Message]) -> dict[tuple[str, str, str], Message]:
        """Messages already stored under the same (conversation, sender, client id): one query."""
        if not messages:
            return {}
        wanted = {(m.conversation_id, m.sender, m.client_id) for m in messages}
        query = {
            "conversation_id": {"$in": sorted({m.conversation_id for m in messages})},
            "client_id": {"$in": sorted({m.client_id for m in messages})},
        }
        found: dict[tuple[str, str, str], Message] = {}
        async for doc in self._messages.find(query):
            key = (doc["conversation_id"], doc["sender"], doc["client_id"])
            if key in wanted:
                found[key] = _message_from_doc(doc)
        return found

    async def _record_one(self, update: UpdateOne, reopen: UpdateOne | None) -> bool | None:
        """One conversation (a quiet moment): no transaction, one update in the common case.

        Each guarded update is atomic and exactly one of the two can match a conversation at a
        time; should its status flip between them (an agent reopening it), try again. Returns
        whether the reopen update applied.
        """
        try:
            for _ in range(3):
                if (await self._conversations.bulk_write([update])).matched_count:
                    return False
                if reopen is None:
                    break
                if (await self._conversations.bulk_write([reopen])).matched_count:
                    return True
        except BulkWriteError as exc:  # including a write concern error: not known to be durable
            raise StorageUnavailable() from exc
        return None  # the conversation no longer exists

    async def _in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[int]]) -> int:
        deadline = time.monotonic() + TRANSACTION_RETRY_S
        while True:
            try:
                async with self._client.start_session() as session:
                    async with await session.start_transaction(write_concern=DURABLE):
                        return await work(session)
            except BulkWriteError as exc:
                raise StorageUnavailable() from exc
            except ConnectionFailure:
                raise
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError") or time.monotonic() > deadline:
                    raise StorageUnavailable() from exc


def _bookkeeping(activity: Activity, also_set: dict[str, Any] | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "$inc": {"message_count": activity.count},
        "$max": {"last_activity_at": activity.last_at},
        "$set": {"last_message_id": activity.last_message_id, **(also_set or {})},
    }
    if activity.first_agent_at is not None:
        # Same update, no read: the field is set once and only ever lowered (reports).
        update["$min"] = {"first_response_at": activity.first_agent_at}
    return update
