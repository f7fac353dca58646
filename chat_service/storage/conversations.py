"""Conversations and their messages. Only ciphertext, ids, timestamps, status and lengths."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chat_service.models import Conversation, ConversationStatus, Message
from chat_service.storage.attachments import attachment_fields, attachment_from_doc
from chat_service.storage.database import translate_errors
from chat_service.storage.reports import ReportStore, closed, rated


def _conversation_from_doc(doc: dict[str, Any]) -> Conversation:
    return Conversation(
        id=doc["_id"],
        status=doc["status"],
        created_at=doc["created_at"],
        last_activity_at=doc["last_activity_at"],
        resume_token_hash=doc["resume_token_hash"],
        resume_expires_at=doc["resume_expires_at"],
        message_count=doc.get("message_count", 0),
        assigned_agent_id=doc.get("assigned_agent_id"),
        closed_at=doc.get("closed_at"),
        offline=doc.get("offline", False),
        notice_version=doc.get("notice_version"),
        site_id=doc.get("site_id"),
        last_message_id=_last_message_id(doc),
        first_client_hash=doc.get("first_client_hash"),
        visitor={k: bytes(v) for k, v in doc.get("visitor", {}).items()},
        email_index=doc.get("email_index"),
        pseudonym=doc.get("pseudonym"),
        pseudonymised_by=_pseudonymised_by(doc.get("pseudonymised")),
        pseudonymised_at=(doc.get("pseudonymised") or {}).get("at"),
        handover_reason=doc.get("handover_reason"),
        handed_over_at=doc.get("handed_over_at"),
        bot_misses=doc.get("bot_misses", 0),
        first_response_at=doc.get("first_response_at"),
        close_count=doc.get("close_count", 0),
        csat_rating=(doc.get("csat") or {}).get("rating"),
        csat_comment=_optional_bytes((doc.get("csat") or {}).get("comment")),
        labels=list(doc.get("labels", [])),
    )


def _last_message_id(doc: dict[str, Any]) -> str | None:
    """`last_message` is `{at, id}`, moved by `$max` (see storage/batches.py); `last_message_id`
    is where conversations stored before it kept the id."""
    last = doc.get("last_message")
    return last["id"] if isinstance(last, dict) else doc.get("last_message_id")


def _optional_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _pseudonymised_by(mark: dict[str, Any] | None) -> str | None:
    return None if not mark else f"{mark['policy']}@{mark['version']}"


def conversation_to_doc(conv: Conversation) -> dict[str, Any]:
    """The stored form of a new conversation (also used by bulk loaders, so formats never drift)."""
    doc: dict[str, Any] = {
        "_id": conv.id,
        "status": conv.status,
        "created_at": conv.created_at,
        "last_activity_at": conv.last_activity_at,
        "resume_token_hash": conv.resume_token_hash,
        "resume_expires_at": conv.resume_expires_at,
        "message_count": conv.message_count,
        "assigned_agent_id": conv.assigned_agent_id,
        "closed_at": conv.closed_at,
        "offline": conv.offline,
        "notice_version": conv.notice_version,
        "site_id": conv.site_id,
        "visitor": conv.visitor,
    }
    if conv.last_message_id is not None:
        doc["last_message"] = {"at": conv.last_activity_at, "id": conv.last_message_id}
    if conv.status == "bot":
        # Started with a bot: kept after the hand-over, so reports can count the hand-over rate.
        doc["bot"] = True
    if conv.email_index is not None:
        doc["email_index"] = conv.email_index
    if conv.first_client_hash is not None:
        doc["first_client_hash"] = conv.first_client_hash
    if conv.labels:
        doc["labels"] = conv.labels
    return doc


def message_to_doc(message: Message) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": message.id,
        "conversation_id": message.conversation_id,
        "sender": message.sender,
        "client_id": message.client_id,
        "created_at": message.created_at,
        "text": message.text,
        "text_length": message.text_length,
        "agent_id": message.agent_id,
        **attachment_fields(message.attachment),
    }
    if message.bot is not None:
        doc["bot"] = dict(message.bot)
    if message.buttons is not None:
        doc["buttons"] = message.buttons
    return doc


def _message_from_doc(doc: dict[str, Any]) -> Message:
    return Message(
        id=doc["_id"],
        conversation_id=doc["conversation_id"],
        sender=doc["sender"],
        client_id=doc["client_id"],
        created_at=doc["created_at"],
        text=bytes(doc["text"]),
        text_length=doc["text_length"],
        agent_id=doc.get("agent_id"),
        bot=doc.get("bot"),
        buttons=bytes(doc["buttons"]) if doc.get("buttons") is not None else None,
        attachment=attachment_from_doc(doc.get("attachment")),
    )


@dataclass(frozen=True)
class ConversationFilter:
    """What a search narrows conversations by; every given field must match (AND)."""

    conversation_id: str | None = None
    email_index: str | None = None
    statuses: tuple[str, ...] = ()
    unassigned: bool = False
    agent_id: str | None = None
    sites: Collection[str] | None = None  # None: every site
    labels: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None

    def to_query(self) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if self.conversation_id is not None:
            query["_id"] = self.conversation_id
        if self.email_index is not None:
            query["email_index"] = self.email_index
        if self.statuses:
            query["status"] = {"$in": list(self.statuses)}
        if self.unassigned:
            query["assigned_agent_id"] = None
        elif self.agent_id is not None:
            query["assigned_agent_id"] = self.agent_id
        if self.sites is not None:
            query["site_id"] = {"$in": sorted(self.sites)}
        if self.labels:
            query["labels"] = {"$all": list(self.labels)}
        created: dict[str, datetime] = {}
        if self.created_from is not None:
            created["$gte"] = self.created_from
        if self.created_to is not None:
            created["$lt"] = self.created_to
        if created:
            query["created_at"] = created
        return query


class ConversationStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.conversations
        self._reports = ReportStore(db)

    @translate_errors
    async def insert(self, conv: Conversation) -> bool:
        """False if a conversation with the same first client id exists (a concurrent resend)."""
        try:
            await self._col.insert_one(conversation_to_doc(conv))
        except DuplicateKeyError:
            return False
        return True

    @translate_errors
    async def by_first_client(self, first_client_hash: str) -> Conversation | None:
        doc = await self._col.find_one({"first_client_hash": first_client_hash})
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def replace_resume(self, conversation_id: str, token_hash: str, expires_at: datetime) -> None:
        await self._col.update_one(
            {"_id": conversation_id}, {"$set": {"resume_token_hash": token_hash, "resume_expires_at": expires_at}}
        )

    @translate_errors
    async def get(self, conversation_id: str) -> Conversation | None:
        doc = await self._col.find_one({"_id": conversation_id})
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def extend_resume(self, conversation_id: str, expires_at: datetime) -> None:
        await self._col.update_one({"_id": conversation_id}, {"$max": {"resume_expires_at": expires_at}})

    @translate_errors
    async def forget_visitor(self, conversation_id: str, at: datetime) -> Conversation | None:
        """The visitor left and asked to be forgotten: no token or first client id restarts it; closed."""
        change = {
            "$set": {"resume_token_hash": "", "status": "closed", "closed_at": at},
            "$unset": {"first_client_hash": ""},
            "$max": {"last_activity_at": at},
        }
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, "status": {"$ne": "closed"}},
            {**change, "$inc": {"close_count": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            await self._closed(doc)
        else:  # closed already: no close to count
            doc = await self._col.find_one_and_update(
                {"_id": conversation_id}, change, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else _conversation_from_doc(doc)

    async def _closed(self, doc: dict[str, Any], session: AsyncClientSession | None = None) -> None:
        """Reports count a conversation's first close only (a reopened one closes again). Its agent
        is the one assigned, else the one who answered first (one indexed read, at close only)."""
        if doc.get("close_count") != 1:
            return
        doc = {**doc, "assigned_agent_id": await self._report_agent(doc, session)}
        await self._reports.apply([closed(doc)], session=session)

    async def _report_agent(self, doc: dict[str, Any], session: AsyncClientSession | None = None) -> str | None:
        """Whose conversation it is in reports: the assigned agent, else the one who answered first."""
        if doc.get("assigned_agent_id") is not None or doc.get("first_response_at") is None:
            return doc.get("assigned_agent_id")
        first = await self._col.database.messages.find_one(
            {"conversation_id": doc["_id"], "sender": "agent"},
            {"agent_id": 1},
            sort=[("created_at", ASCENDING)],
            session=session,
        )
        return None if first is None else first.get("agent_id")

    @translate_errors
    async def rate(self, conversation_id: str, rating: int, comment: bytes | None, at: datetime) -> Conversation | None:
        """The visitor's rating of a closed conversation, once; None if not closed or rated already."""
        csat: dict[str, Any] = {"rating": rating, "at": at}
        if comment is not None:
            csat["comment"] = comment
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, "status": "closed", "csat": {"$exists": False}},
            {"$set": {"csat": csat}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        conv = _conversation_from_doc(doc)
        await self._reports.apply([rated(replace(conv, assigned_agent_id=await self._report_agent(doc)), rating)])
        return conv

    @translate_errors
    async def set_status(
        self, conversation_id: str, status: ConversationStatus, at: datetime, session: AsyncClientSession | None = None
    ) -> Conversation | None:
        changes: dict[str, Any] = {"status": status, "closed_at": at if status == "closed" else None}
        update: dict[str, Any] = {"$set": changes, "$max": {"last_activity_at": at}}
        if status == "closed":
            update["$inc"] = {"close_count": 1}
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, "status": {"$ne": status}},
            update,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if doc is None:
            return None
        if status == "closed":
            await self._closed(doc, session)
        return _conversation_from_doc(doc)

    @translate_errors
    async def claim(
        self, conversation_id: str, agent_id: str, *, force: bool, session: AsyncClientSession | None = None
    ) -> tuple[Conversation | None, bool]:
        """Assign to `agent_id`. Without `force` only if unassigned: one claim wins a race.

        Returns the conversation after the attempt (None if it does not exist) and whether it won.
        """
        query: dict[str, Any] = {"_id": conversation_id}
        if not force:
            query["assigned_agent_id"] = None
        doc = await self._col.find_one_and_update(
            query, {"$set": {"assigned_agent_id": agent_id}}, return_document=ReturnDocument.AFTER, session=session
        )
        if doc is not None:
            return _conversation_from_doc(doc), True
        current = await self._col.find_one({"_id": conversation_id}, session=session)
        return (None if current is None else _conversation_from_doc(current)), False

    @translate_errors
    async def hand_over(
        self, conversation_id: str, reason: str, at: datetime, session: AsyncClientSession | None = None
    ) -> Conversation | None:
        """`bot` -> waiting (open, unassigned). None unless it was with the bot: one hand-over wins."""
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, "status": "bot"},
            {
                "$set": {"status": "open", "handover_reason": reason, "handed_over_at": at},
                "$max": {"last_activity_at": at},
            },
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def bot_turn(self, conversation_id: str, *, answered: bool) -> int:
        """Count an unanswered bot turn (or reset the count); the unanswered turns in a row after it."""
        update: dict[str, Any] = {"$set": {"bot_misses": 0}} if answered else {"$inc": {"bot_misses": 1}}
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, "status": "bot"}, update, return_document=ReturnDocument.AFTER
        )
        return 0 if doc is None else int(doc.get("bot_misses", 0))

    @translate_errors
    async def set_bot_sender(self, conversation_id: str, sender: str) -> None:
        """The pseudonym an external bot knows this conversation by (a webhook bot answers with it)."""
        await self._col.update_one({"_id": conversation_id}, {"$set": {"bot_sender": sender}})

    @translate_errors
    async def by_bot_sender(self, site_id: str, sender: str) -> Conversation | None:
        doc = await self._col.find_one({"bot_sender": sender, "site_id": site_id})
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def with_bot_between(self, after: datetime, before: datetime, limit: int = 500) -> list[Conversation]:
        """Conversations still with the bot whose last activity lies between `after` and `before`
        (the inbox index: status, then time), newest first."""
        cursor = (
            self._col.find({"status": "bot", "last_activity_at": {"$gte": after, "$lt": before}})
            .sort([("last_activity_at", DESCENDING)])
            .limit(limit)
        )
        return [_conversation_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def search(self, where: ConversationFilter, limit: int) -> list[Conversation]:
        """Newest activity first, at most `limit`."""
        cursor = (
            self._col.find(where.to_query()).sort([("last_activity_at", DESCENDING), ("_id", ASCENDING)]).limit(limit)
        )
        return [_conversation_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def by_status(
        self,
        status: ConversationStatus,
        limit: int,
        *,
        assigned_to: str | None = None,
        unassigned: bool = False,
        sites: Collection[str] | None = None,
    ) -> list[Conversation]:
        query: dict[str, Any] = {"status": status}
        if sites is not None:
            query["site_id"] = {"$in": sorted(sites)}
        if assigned_to is not None:
            query["assigned_agent_id"] = assigned_to
        elif unassigned:
            query["assigned_agent_id"] = None
        cursor = self._col.find(query).sort([("last_activity_at", DESCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_conversation_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def waiting_unnoticed(self, before: datetime, limit: int) -> list[Conversation]:
        """Unassigned conversations started at or before `before` whose team was not yet told."""
        query = {**_WAITING, "created_at": {"$lte": before}, "waiting_notified_at": {"$exists": False}}
        cursor = self._col.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_conversation_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def mark_waiting_notified(
        self, conversation_id: str, at: datetime, session: AsyncClientSession | None = None
    ) -> Conversation | None:
        """Claim the one "waiting too long" notice of a conversation; None if another node did, or it
        no longer waits. `waiting_notified_at` (a time, no personal data) goes with the conversation."""
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id, **_WAITING, "waiting_notified_at": {"$exists": False}},
            {"$set": {"waiting_notified_at": at}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def set_labels(self, conversation_id: str, labels: list[str]) -> Conversation | None:
        doc = await self._col.find_one_and_update(
            {"_id": conversation_id}, {"$set": {"labels": labels}}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else _conversation_from_doc(doc)

    @translate_errors
    async def labels_in_use(self, limit: int) -> list[str]:
        return sorted(str(label) for label in await self._col.distinct("labels"))[:limit]

    @translate_errors
    async def by_email_index(self, email_index: str, *, exclude: str, limit: int) -> list[Conversation]:
        """The other conversations of the person with this blind index, newest first."""
        cursor = (
            self._col.find({"email_index": email_index, "_id": {"$ne": exclude}})
            .sort([("created_at", DESCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [_conversation_from_doc(doc) async for doc in cursor]


# Waiting for an agent: not closed, nobody assigned ("waiting" is the status once bots hand over).
_WAITING: dict[str, Any] = {"status": {"$in": ["open", "waiting"]}, "assigned_agent_id": None}


class MessageStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.messages

    @translate_errors
    async def bot_spoke(self, conversation_id: str) -> bool:
        """Whether a bot message exists in this conversation (the first one carries the AI notice)."""
        return await self._col.find_one({"conversation_id": conversation_id, "sender": "bot"}, {"_id": 1}) is not None

    @translate_errors
    async def by_client_id(self, conversation_id: str, sender: str, client_id: str) -> Message | None:
        doc = await self._col.find_one({"conversation_id": conversation_id, "sender": sender, "client_id": client_id})
        return None if doc is None else _message_from_doc(doc)

    @translate_errors
    async def by_ids(self, message_ids: list[str]) -> list[Message]:
        return [_message_from_doc(doc) async for doc in self._col.find({"_id": {"$in": message_ids}})]

    @translate_errors
    async def newest_since(self, clocks: Mapping[str, datetime]) -> dict[str, Message]:
        """Per conversation, its newest message stored at or after that conversation's clock
        (none if it has none): one query. The conversations' own summaries are folded in behind
        the messages, so this is how to know the last message for certain."""
        if not clocks:
            return {}
        query = {"conversation_id": {"$in": sorted(clocks)}, "created_at": {"$gte": min(clocks.values())}}
        newest: dict[str, Message] = {}
        async for doc in self._col.find(query):
            message = _message_from_doc(doc)
            if message.created_at < clocks[message.conversation_id]:
                continue
            known = newest.get(message.conversation_id)
            if known is None or message.created_at >= known.created_at:
                newest[message.conversation_id] = message
        return newest

    @translate_errors
    async def of_conversations(self, conversation_ids: Sequence[str], limit: int) -> list[Message]:
        """Messages of these conversations, at most `limit` in all (search reads no more)."""
        cursor = self._col.find({"conversation_id": {"$in": list(conversation_ids)}}).limit(limit)
        return [_message_from_doc(doc) async for doc in cursor]

    @translate_errors
    async def history(self, conversation_id: str, limit: int) -> list[Message]:
        cursor = (
            self._col.find({"conversation_id": conversation_id})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        newest_first = [_message_from_doc(doc) async for doc in cursor]
        return newest_first[::-1]


class ReadStore:
    """How many messages of a conversation each agent has seen (for unread counts)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]):
        self._col = db.conversation_reads

    @translate_errors
    async def mark(self, conversation_id: str, user_id: str, seen_count: int) -> None:
        await self._col.update_one(
            {"_id": f"{conversation_id}:{user_id}"},
            {"$max": {"seen": seen_count}, "$set": {"conversation_id": conversation_id, "user_id": user_id}},
            upsert=True,
        )

    @translate_errors
    async def seen(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        ids = [f"{c}:{user_id}" for c in conversation_ids]
        return {doc["conversation_id"]: int(doc["seen"]) async for doc in self._col.find({"_id": {"$in": ids}})}
