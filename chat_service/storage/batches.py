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
from chat_service.storage.conversations import (
    _conversation_from_doc,
    _last_message_id,
    _message_from_doc,
    message_to_doc,
)
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
    async def settle(
        self,
        activities: Sequence[Activity],
        *,
        messages: Sequence[Message] = (),
        outbox: Sequence[dict[str, Any]] = (),
    ) -> tuple[dict[str, Conversation], set[str], list[Activity]]:
        """What a written batch means for its conversations, without a write per conversation.

        One read (`_id` and `status` of the batch's conversations) after the messages are
        written tells which conversations no longer exist (erased meanwhile: their messages in
        this batch must not stay behind as orphans) and which are closed. A closed conversation
        with a visitor message in the batch opens again at once, guarded on `status: "closed"`
        and marking the message that reopened it, its bookkeeping in the same update. Every
        other conversation's bookkeeping (count, activity clock, last message) is returned, to
        be folded in later (`fold`): on SecantusDB an update costs several inserts, and at chat
        rates a batch touches as many conversations as it holds messages.

        `messages` and `outbox` (delivery documents) are inserted in the same transaction first:
        a batch that reports its messages to webhooks or e-mail stores message, delivery and
        reopen together or not at all (transactional outbox).

        Returns the reopened conversations by id (after the change), the missing ids, and the
        bookkeeping left to fold.
        """
        if not activities and not messages:
            return {}, set(), []
        ids = sorted({a.conversation_id for a in activities} | {m.conversation_id for m in messages})
        statuses: dict[str, str] = {}
        reopen_ids: list[str] = []

        async def work(session: AsyncClientSession | None) -> None:
            if messages:
                await self._messages.insert_many([message_to_doc(m) for m in messages], ordered=False, session=session)
            if outbox:
                await self._outbox.insert_many(list(outbox), ordered=False, session=session)
            statuses.clear()
            async for doc in self._conversations.find({"_id": {"$in": ids}}, {"status": 1}, session=session):
                statuses[doc["_id"]] = doc["status"]
            reopen = [a for a in activities if a.reopen_by is not None and statuses.get(a.conversation_id) == "closed"]
            reopen_ids[:] = [a.conversation_id for a in reopen]
            if reopen:
                await self._conversations.bulk_write(
                    [
                        UpdateOne(
                            {"_id": a.conversation_id, "status": "closed"},
                            _bookkeeping(a, {"status": "open", "closed_at": None, "reopened_by": a.reopen_by}),
                        )
                        for a in reopen
                    ],
                    ordered=False,
                    session=session,
                )

        if messages or outbox:
            await self._in_transaction(work)
        else:
            try:
                await work(None)
            except BulkWriteError as exc:  # including a write concern error: not known to be durable
                raise StorageUnavailable() from exc
        missing = set(ids) - set(statuses)
        reopened: dict[str, Conversation] = {}
        if reopen_ids:
            guarded = {a.conversation_id: a.reopen_by for a in activities if a.conversation_id in reopen_ids}
            async for doc in self._conversations.find({"_id": {"$in": reopen_ids}}):
                if doc.get("reopened_by") == guarded[doc["_id"]]:
                    reopened[doc["_id"]] = _conversation_from_doc(doc)
        # A conversation whose reopen lost a race (an agent reopened it first) still needs its count.
        later = [a for a in activities if a.conversation_id in statuses and a.conversation_id not in reopened]
        return reopened, missing, later

    @translate_errors
    async def fold(self, activities: Sequence[Activity]) -> None:
        """Apply deferred bookkeeping: one unordered `bulk_write`, one update per conversation.
        A conversation erased meanwhile matches nothing, which is right."""
        if not activities:
            return
        updates = [UpdateOne({"_id": a.conversation_id}, _bookkeeping(a)) for a in activities]
        try:
            if len(updates) == 1:
                await self._conversations.bulk_write(updates, ordered=False)
            else:
                # On SecantusDB each update outside a transaction is a commit (and an fsync) of
                # its own; inside one the fold commits once.
                async def work(session: AsyncClientSession) -> None:
                    await self._conversations.bulk_write(updates, ordered=False, session=session)

                await self._in_transaction(work)
        except BulkWriteError as exc:
            raise StorageUnavailable() from exc

    @translate_errors
    async def repair(self, since: datetime) -> int:
        """Recount conversations whose messages since `since` are not all folded in (a node that
        died before its fold). Sets absolute values, so running it twice, or on two nodes at
        once, is harmless. Returns how many conversations it corrected."""
        latest: dict[str, dict[str, Any]] = {}
        cursor = self._messages.find(
            {"created_at": {"$gte": since}}, {"conversation_id": 1, "created_at": 1, "sender": 1}
        ).sort("created_at", 1)
        async for doc in cursor:
            entry = latest.setdefault(doc["conversation_id"], {"first_agent_at": None})
            entry["last_at"], entry["last_id"] = doc["created_at"], doc["_id"]
            if doc.get("sender") == "agent" and entry["first_agent_at"] is None:
                entry["first_agent_at"] = doc["created_at"]
        if not latest:
            return 0
        stale: list[str] = []
        async for doc in self._conversations.find(
            {"_id": {"$in": sorted(latest)}}, {"last_activity_at": 1, "last_message": 1, "last_message_id": 1}
        ):
            entry = latest[doc["_id"]]
            if _last_message_id(doc) != entry["last_id"] or doc["last_activity_at"] < entry["last_at"]:
                stale.append(doc["_id"])
        if not stale:
            return 0
        counts: dict[str, int] = dict.fromkeys(stale, 0)
        async for doc in self._messages.find({"conversation_id": {"$in": stale}}, {"conversation_id": 1}):
            counts[doc["conversation_id"]] += 1
        updates = []
        for conversation_id in stale:
            entry = latest[conversation_id]
            update: dict[str, Any] = {
                "$set": {"message_count": counts[conversation_id]},
                "$max": {
                    "last_activity_at": entry["last_at"],
                    "last_message": {"at": entry["last_at"], "id": entry["last_id"]},
                },
            }
            if entry["first_agent_at"] is not None:
                update["$min"] = {"first_response_at": entry["first_agent_at"]}
            updates.append(UpdateOne({"_id": conversation_id}, update))
        await self._conversations.bulk_write(updates, ordered=False)
        return len(stale)

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

    async def _in_transaction(self, work: Callable[[AsyncClientSession], Awaitable[None]]) -> None:
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
    """The update counting a batch's messages. Every operator commutes, so folds from several
    nodes may land in any order: the last message is kept as `{at, id}` under `$max` (embedded
    documents compare field by field: the newest wins, whoever folds last)."""
    update: dict[str, Any] = {
        "$inc": {"message_count": activity.count},
        "$max": {
            "last_activity_at": activity.last_at,
            "last_message": {"at": activity.last_at, "id": activity.last_message_id},
        },
    }
    if also_set:
        update["$set"] = also_set
    if activity.first_agent_at is not None:
        # Same update, no read: the field is set once and only ever lowered (reports).
        update["$min"] = {"first_response_at": activity.first_agent_at}
    return update
