"""What the retention job and data-subject requests need from MongoDB.

Selection is streamed with one cursor (memory stays flat); every change of a batch is written in
one transaction, so a run killed mid-batch leaves the batch as it was, and every write is guarded
so that doing it again changes nothing. The run lease and the run summaries live here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from chat_service.crypto import WrappedKey
from chat_service.models import Conversation, Message
from chat_service.storage.attachments import attachment_fields, delete_files
from chat_service.storage.conversations import _conversation_from_doc, _message_from_doc, message_to_doc
from chat_service.storage.database import DURABLE, translate_errors
from chat_service.storage.erasures import ended_doc
from chat_service.storage.keys import data_key_to_doc
from chat_service.storage.notes import COLLECTION as NOTES

# How long a batch waits for documents held by the open transaction of a run that died.
TRANSIENT_RETRY_S = 90.0
# Called at named points inside a batch's transaction; tests use it to kill a run mid-batch.
Checkpoint = Callable[[str], None]


# Ids per `$in`: SecantusDB compares every candidate document with the whole list, so one `$in`
# of n ids over the n·10 messages they select costs ~10·n² comparisons; short lists keep it linear.
# On MongoDB this only adds a few round trips per batch.
IN_CHUNK = 16


def _chunks(ids: Sequence[str], size: int = IN_CHUNK) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _no_checkpoint(_: str) -> None:
    return None


class _BatchChanged(Exception):
    """Raised inside a batch's transaction to abort it: something changed since it was read."""


@dataclass(frozen=True)
class ConversationSelector:
    """Conversations whose last activity is before `before`, optionally only (not) offline.

    `pending_policy` (name, version) keeps only conversations not yet pseudonymised by that policy
    at that version or later. `exclude` removes what other selectors match.
    """

    before: datetime
    offline: bool | None = None
    pending_policy: tuple[str, int] | None = None
    exclude: tuple[ConversationSelector, ...] = ()

    def to_filter(self) -> dict[str, Any]:
        query: dict[str, Any] = {"last_activity_at": {"$lt": self.before}}
        if self.offline is not None:
            query["offline"] = self.offline
        if self.pending_policy is not None:
            name, version = self.pending_policy
            query["$or"] = [
                {"pseudonymised": {"$exists": False}},
                {"pseudonymised.policy": name, "pseudonymised.version": {"$lt": version}},
            ]
        if self.exclude:
            query["$nor"] = [ex.to_filter() for ex in self.exclude]
        return query


@dataclass(frozen=True)
class RedactedText:
    """One message as it was read (`message`) and its new ciphertext."""

    message: Message
    text: bytes
    text_length: int

    @property
    def message_id(self) -> str:
        return self.message.id


@dataclass(frozen=True)
class Pseudonymisation:
    """The new state of one conversation, all under a new data key.

    `visitor` holds the fields kept (re-encrypted), `key` the new wrapped data key and `texts`
    every message of the conversation re-encrypted (redacted where needed).
    """

    conversation_id: str
    pseudonym: str
    visitor: dict[str, bytes]
    key: WrappedKey
    texts: tuple[RedactedText, ...]


@dataclass
class RunRecord:
    id: str
    started_at: datetime
    clock: datetime
    host: str
    status: str = "running"
    finished_at: datetime | None = None
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)


def _run_from_doc(doc: dict[str, Any]) -> RunRecord:
    return RunRecord(
        id=doc["_id"],
        started_at=doc["started_at"],
        clock=doc["clock"],
        host=doc.get("host", ""),
        status=doc["status"],
        finished_at=doc.get("finished_at"),
        policies=doc.get("policies", {}),
        failures=doc.get("failures", []),
        keys=doc.get("keys", {}),
    )


class RetentionStore:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], db: AsyncDatabase[dict[str, Any]]):
        self._client = client
        self._db = db
        self._session: AsyncClientSession | None = None

    # --- selection -------------------------------------------------------------------------------

    @translate_errors
    async def count_conversations(self, selector: ConversationSelector) -> int:
        return await self._db.conversations.count_documents(selector.to_filter())

    async def stream_conversations(
        self, selector: ConversationSelector, batch_size: int
    ) -> AsyncIterator[list[Conversation]]:
        """Matching conversations, oldest activity first, `batch_size` at a time."""
        cursor = self._db.conversations.find(selector.to_filter(), batch_size=batch_size).sort(
            [("last_activity_at", ASCENDING), ("_id", ASCENDING)]
        )
        batch: list[Conversation] = []
        async for doc in cursor:
            batch.append(_conversation_from_doc(doc))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    @translate_errors
    async def messages_of(self, conversation_ids: Sequence[str]) -> list[Message]:
        found: list[Message] = []
        for chunk in _chunks(conversation_ids):
            found.extend(
                [_message_from_doc(doc) async for doc in self._db.messages.find({"conversation_id": {"$in": chunk}})]
            )
        return found

    async def stream_messages(self, conversation_id: str) -> AsyncIterator[Message]:
        """Every message of one conversation, oldest first (no history limit: for exports)."""
        cursor = self._db.messages.find({"conversation_id": conversation_id}, batch_size=500).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        async for doc in cursor:
            yield _message_from_doc(doc)

    @translate_errors
    async def wrapped_keys(self, owner_ids: Sequence[str]) -> dict[str, WrappedKey]:
        found: dict[str, WrappedKey] = {}
        for chunk in _chunks(owner_ids):
            async for doc in self._db.data_keys.find({"_id": {"$in": chunk}}):
                found[doc["_id"]] = WrappedKey(doc["master_key_id"], bytes(doc["wrapped"]))
        return found

    # --- changes (one transaction per batch) -----------------------------------------------------

    @asynccontextmanager
    async def run_session(self) -> AsyncIterator[dict[str, Any]]:
        """One server session for a whole run; its id goes into the lease (see `acquire_lease`)."""
        async with self._client.start_session() as session:
            self._session = session
            try:
                yield dict(session.session_id)
            finally:
                self._session = None

    async def _in_transaction(self, work: Callable[[AsyncClientSession], Any]) -> Any:
        """Run `work` in a transaction, retrying while a transaction of a dead run still holds its documents."""
        deadline = time.monotonic() + TRANSIENT_RETRY_S
        while True:
            try:
                if self._session is not None:
                    return await self._transaction(self._session, work)
                async with self._client.start_session() as session:
                    return await self._transaction(session, work)
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError") or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    @staticmethod
    async def _transaction(session: AsyncClientSession, work: Callable[[AsyncClientSession], Any]) -> Any:
        async with await session.start_transaction(write_concern=DURABLE):
            return await work(session)

    @translate_errors
    async def pseudonymise(
        self,
        changes: Sequence[Pseudonymisation],
        *,
        selector: ConversationSelector,
        policy: str,
        version: int,
        at: datetime,
        run_id: str,
        checkpoint: Checkpoint = _no_checkpoint,
    ) -> set[str]:
        """Replace visitor identifiers, texts and data keys, atomically for the whole batch.

        Each conversation is changed only if, inside the transaction, it still matches `selector`
        (no new activity, not already done) and still has exactly the messages that were
        re-encrypted. Messages are replaced by delete + one `insert_many` with the same ids and
        the data key by delete + insert (an update costs SecantusDB ~10x an insert; on MongoDB
        both are fine). Returns the ids this call pseudonymised.

        The messages are read once, before (`messages_of`): the transaction checks them by the
        guarded updates' match count and the deletes' counts, without reading them again. Only
        when something changed since they were read is that transaction aborted and the batch
        redone conversation by conversation, reading the messages inside the transaction.
        """
        by_id = {c.conversation_id: c for c in changes}
        mark = {"policy": policy, "version": version, "label": f"{policy}@{version}", "at": at, "run": run_id}
        # A plain guard (no $or): SecantusDB scans the collection for each update with one.
        guard = {"last_activity_at": {"$lt": selector.before}, "pseudonymised.label": {"$ne": mark["label"]}}

        def update(i: str) -> UpdateOne:
            return UpdateOne(
                {"_id": i, **guard},
                {
                    "$set": {
                        "pseudonym": by_id[i].pseudonym,
                        "pseudonymised": mark,
                        "visitor": by_id[i].visitor,
                        "resume_token_hash": "",
                    },
                    # Nothing may let a client id or an e-mail address find it again.
                    # The rating stays (a number); its comment is free text from the visitor.
                    "$unset": {"email_index": "", "first_client_hash": "", "csat.comment": ""},
                },
            )

        async def write(session: AsyncClientSession, ids: list[str], new_messages: list[dict[str, Any]]) -> None:
            if new_messages:
                await self._db.messages.insert_many(new_messages, session=session)
            checkpoint("pseudonymise.texts_written")
            for chunk in _chunks(ids):
                # Internal notes are working notes for the live case: they go, not redacted.
                await self._db[NOTES].delete_many({"conversation_id": {"$in": chunk}}, session=session)
                # Attached files go: their messages keep only the kind and size (see pseudonymise).
                await delete_files(self._db, chunk, session)
                await self._db.data_keys.delete_many({"_id": {"$in": chunk}}, session=session)
            await self._db.data_keys.insert_many([data_key_to_doc(i, by_id[i].key, at) for i in ids], session=session)

        async def fast(session: AsyncClientSession) -> set[str]:
            """Every conversation of the batch unchanged since it was read, or `_BatchChanged`.

            The guarded updates must match every conversation (none became active, was erased
            or was done meanwhile), and each chunk's `delete_many` must remove exactly as many
            messages as were read: messages are only ever added to a conversation (they go only
            with the whole conversation, which the guard sees), so an equal count is the same set.
            """
            ids = sorted(by_id)
            result = await self._db.conversations.bulk_write([update(i) for i in ids], ordered=False, session=session)
            if result.matched_count != len(ids):
                raise _BatchChanged()
            for chunk in _chunks(ids):
                deleted = await self._db.messages.delete_many({"conversation_id": {"$in": chunk}}, session=session)
                if deleted.deleted_count != sum(len(by_id[i].texts) for i in chunk):
                    raise _BatchChanged()
            new_messages = [
                # A bot's quick-reply buttons are for the live chat only: they go, not re-keyed.
                message_to_doc(replace(t.message, text=t.text, text_length=t.text_length, buttons=None))
                for i in ids
                for t in by_id[i].texts
            ]
            await write(session, ids, new_messages)
            return set(ids)

        async def careful(session: AsyncClientSession) -> set[str]:
            """Conversation by conversation: only those still due with exactly the messages read."""
            ok: set[str] = set()
            for chunk in _chunks(list(by_id)):
                still = self._db.conversations.find({"_id": {"$in": chunk}, **guard}, {"_id": 1}, session=session)
                ok.update([doc["_id"] async for doc in still])
            stored: dict[str, list[dict[str, Any]]] = {}
            for chunk in _chunks(sorted(ok)):
                async for doc in self._db.messages.find({"conversation_id": {"$in": chunk}}, session=session):
                    stored.setdefault(doc["conversation_id"], []).append(doc)
            new_messages: list[dict[str, Any]] = []
            for conversation_id in sorted(ok):
                texts = {t.message_id: t for t in by_id[conversation_id].texts}
                docs = stored.get(conversation_id, [])
                if {d["_id"] for d in docs} != set(texts):
                    ok.discard(conversation_id)  # a message arrived or went since it was read: next run
                    continue
                for doc in docs:
                    text = texts[doc["_id"]]
                    kept = {k: v for k, v in doc.items() if k != "buttons"}
                    new_messages.append(
                        {
                            **kept,
                            "text": text.text,
                            "text_length": text.text_length,
                            **attachment_fields(text.message.attachment),
                        }
                    )
            if not ok:
                return set()
            ids = sorted(ok)
            # Exactly the messages re-encrypted (checked above), so all messages of these conversations.
            for chunk in _chunks(ids):
                await self._db.messages.delete_many({"conversation_id": {"$in": chunk}}, session=session)
            await self._db.conversations.bulk_write([update(i) for i in ids], ordered=False, session=session)
            await write(session, ids, new_messages)
            return ok

        if not changes:
            return set()
        try:
            result: set[str] = await self._in_transaction(fast)
        except _BatchChanged:
            # Aborted, nothing written: something changed since the batch was read (rare).
            result = await self._in_transaction(careful)
        return result

    @translate_errors
    async def delete_conversations(
        self,
        conversation_ids: Sequence[str],
        checkpoint: Checkpoint = _no_checkpoint,
        *,
        inactive_before: datetime | None = None,
    ) -> int:
        """Crypto-shred: the data keys go first, then the messages and conversations.

        With `inactive_before`, only conversations still inactive since then are deleted (checked
        inside the transaction: a visitor writing after selection keeps the conversation).
        Returns how many conversation documents were deleted.
        """
        selected = list(conversation_ids)

        async def work(session: AsyncClientSession) -> int:
            ids = selected
            if inactive_before is not None:
                ids = []
                for chunk in _chunks(selected):
                    still = self._db.conversations.find(
                        {"_id": {"$in": chunk}, "last_activity_at": {"$lt": inactive_before}},
                        {"_id": 1},
                        session=session,
                    )
                    # The activity clock is folded in behind the messages (pipeline/bookkeeping.py):
                    # a message not yet counted there keeps its conversation too.
                    recent = self._db.messages.find(
                        {"conversation_id": {"$in": chunk}, "created_at": {"$gte": inactive_before}},
                        {"conversation_id": 1},
                        session=session,
                    )
                    active = {doc["conversation_id"] async for doc in recent}
                    ids.extend([doc["_id"] async for doc in still if doc["_id"] not in active])
                if not ids:
                    return 0
            for chunk in _chunks(ids):
                await self._db.data_keys.delete_many({"_id": {"$in": chunk}}, session=session)
            checkpoint("delete.keys_destroyed")
            # In the same transaction: every node learns of the deletion if and only if it happened.
            await self._db.conversation_endings.insert_one(ended_doc(ids, "erased", datetime.now(UTC)), session=session)
            deleted = 0
            for chunk in _chunks(ids):
                await delete_files(self._db, chunk, session)
                await self._db.messages.delete_many({"conversation_id": {"$in": chunk}}, session=session)
                await self._db[NOTES].delete_many({"conversation_id": {"$in": chunk}}, session=session)
                deleted += (
                    await self._db.conversations.delete_many({"_id": {"$in": chunk}}, session=session)
                ).deleted_count
            return deleted

        if not selected:
            return 0
        deleted: int = await self._in_transaction(work)
        return deleted

    # --- data-subject requests and breach reports ------------------------------------------------

    @translate_errors
    async def conversations_for_subject(self, email_index: str, pseudonym: str) -> list[Conversation]:
        found: dict[str, Conversation] = {}
        for query in ({"email_index": email_index}, {"pseudonym": pseudonym}):
            async for doc in self._db.conversations.find(query):
                found[doc["_id"]] = _conversation_from_doc(doc)
        return sorted(found.values(), key=lambda c: (c.created_at, c.id))

    async def conversations_created_between(self, start: datetime, end: datetime) -> AsyncIterator[Conversation]:
        cursor = self._db.conversations.find({"created_at": {"$gte": start, "$lt": end}}, batch_size=500)
        async for doc in cursor:
            yield _conversation_from_doc(doc)

    @translate_errors
    async def messages_stored_between(self, start: datetime, end: datetime) -> dict[str, int]:
        """Conversation id -> number of its messages stored in the window."""
        counts: dict[str, int] = {}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"created_at": {"$gte": start, "$lt": end}}},
            {"$group": {"_id": "$conversation_id", "n": {"$sum": 1}}},
        ]
        async for row in await self._db.messages.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["n"])
        return counts

    # --- audit retention -------------------------------------------------------------------------

    @translate_errors
    async def count_audit_before(self, before: datetime) -> int:
        return await self._db.audit_events.count_documents({"at": {"$lt": before}})

    # --- lease -----------------------------------------------------------------------------------

    @translate_errors
    async def acquire_lease(
        self, name: str, holder: str, now: datetime, expires_at: datetime, session_id: dict[str, Any] | None = None
    ) -> bool:
        """Take the lease if it is free, expired or already ours.

        Taking over from a run that went silent (killed, partitioned) also kills that run's server
        session, so its open transaction is aborted now instead of holding its documents until
        the server reaps it (60 s on MongoDB).
        """
        try:
            before = await self._db.retention_leases.find_one_and_update(
                {"_id": name, "$or": [{"expires_at": {"$lte": now}}, {"holder": holder}]},
                {"$set": {"holder": holder, "expires_at": expires_at, "renewed_at": now, "session": session_id}},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            return False  # someone else holds it: the upsert collided with their document
        if before is not None and before.get("holder") != holder and before.get("session"):
            with contextlib.suppress(PyMongoError):
                await self._client.admin.command("killSessions", [before["session"]])
        return True

    @translate_errors
    async def renew_lease(self, name: str, holder: str, now: datetime, expires_at: datetime) -> bool:
        result = await self._db.retention_leases.update_one(
            {"_id": name, "holder": holder}, {"$set": {"expires_at": expires_at, "renewed_at": now}}
        )
        return result.matched_count == 1

    @translate_errors
    async def release_lease(self, name: str, holder: str) -> None:
        await self._db.retention_leases.delete_one({"_id": name, "holder": holder})

    @translate_errors
    async def lease_holder(self, name: str) -> tuple[str, datetime] | None:
        doc = await self._db.retention_leases.find_one({"_id": name})
        return None if doc is None else (doc["holder"], doc["expires_at"])

    # --- run summaries ---------------------------------------------------------------------------

    @translate_errors
    async def save_run(self, run: RunRecord) -> None:
        await self._db.retention_runs.replace_one(
            {"_id": run.id},
            {
                "_id": run.id,
                "started_at": run.started_at,
                "clock": run.clock,
                "host": run.host,
                "status": run.status,
                "finished_at": run.finished_at,
                "policies": run.policies,
                "failures": run.failures,
                "keys": run.keys,
            },
            upsert=True,
        )

    @translate_errors
    async def recent_runs(self, limit: int) -> list[RunRecord]:
        cursor = self._db.retention_runs.find().sort([("started_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_run_from_doc(doc) async for doc in cursor]
