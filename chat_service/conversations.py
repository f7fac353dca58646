"""The conversation domain: the contact rule, the message flow, closing and reopening.

Nothing is stored until a visitor's first message (visitor-initiated contact). Every text and
every visitor field is encrypted under the conversation's own data key before it reaches storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_service.crypto import DataKey, DataKeyCache, FieldRef, HmacKeys, KeyRingSource, hash_token, new_secret
from chat_service.errors import (
    Conflict,
    ConversationClosed,
    DecryptionFailed,
    EmailUnavailable,
    InvalidToken,
    NotFound,
    StorageUnavailable,
)
from chat_service.logging import get_logger
from chat_service.models import AttachmentRef, Conversation, ConversationStatus, Message, Sender, User
from chat_service.outbox.events import HANDED_OVER, STATUS_CHANGED, Outbox
from chat_service.pipeline import WritePipeline
from chat_service.storage import Database
from chat_service.storage import reports as rollups
from chat_service.storage.outbox import Delivery
from chat_service.validation import VisitorMessageIn

log = get_logger(__name__)
HISTORY_LIMIT = 200
# A first message's client id this long (random, as the widget makes them: 128 bits) lets a resend
# after a lost ack find its conversation from another connection. Shorter ids do not.
MIN_RECOVERABLE_CLIENT_ID = 22
_TOKEN = re.compile(r"^(c[0-9a-f]{24})\.([A-Za-z0-9_-]{43})$")
# Senders whose messages the visitor sees (internal notes and system records are not among them).
VISITOR_VISIBLE = frozenset({"visitor", "agent", "bot"})


Announce = Callable[["MessageView"], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_conversation_id() -> str:
    return "c" + secrets.token_hex(12)


def new_message_id() -> str:
    return "m" + secrets.token_hex(12)


@dataclass(frozen=True)
class VisitorContext:
    """What the transport knows about a visitor; stored (encrypted) only with the first message."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class FileInfo:
    """A file a message carries, as the domain sees it (its name in clear; see attachments/)."""

    id: str
    name: str
    type: str
    size: int
    removed: bool = False

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type, "size": self.size}
        if self.removed:
            wire["removed"] = True
        return wire


@dataclass(frozen=True)
class MessageView:
    id: str
    conversation_id: str
    sender: Sender
    client_id: str
    text: str
    created_at: datetime
    agent_id: str | None = None
    unreadable: bool = False
    bot: Mapping[str, str] | None = None
    buttons: tuple[Mapping[str, str], ...] = ()
    attachment: FileInfo | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "sender": self.sender,
            "client_id": self.client_id,
            "text": self.text,
            "created_at": iso(self.created_at),
            "agent_id": self.agent_id,
        }
        if self.unreadable:
            wire["unreadable"] = True
        if self.bot is not None:
            wire["bot"] = dict(self.bot)
            if self.buttons:
                wire["buttons"] = [dict(b) for b in self.buttons]
        if self.attachment is not None:
            wire["attachment"] = self.attachment.to_wire()
        return wire


def agent_message(view: MessageView) -> dict[str, Any]:
    """A message as agents see it. A visitor's client id is withheld: it can stand in for the
    resume token of a resent first message, and agents have no use for it."""
    wire = view.to_wire()
    if view.sender == "visitor":
        wire.pop("client_id")
    return wire


def state_of(conv: Conversation) -> str:
    """The state as docs/protocol.md names it: bot, waiting (open, nobody assigned), open, closed."""
    if conv.status == "open" and conv.assigned_agent_id is None:
        return "waiting"
    return conv.status


def summary_to_wire(conv: Conversation) -> dict[str, Any]:
    """What agents see in a list: no decryption needed."""
    return {
        "id": conv.id,
        "status": conv.status,
        "state": state_of(conv),
        "handover_reason": conv.handover_reason,
        "created_at": iso(conv.created_at),
        "last_activity_at": iso(conv.last_activity_at),
        "message_count": conv.message_count,
        "assigned_agent_id": conv.assigned_agent_id,
        "offline": conv.offline,
        "closed_at": iso(conv.closed_at),
        "site_id": conv.site_id,
        "labels": list(conv.labels),
        # What the console shows (translated) for a visitor without a name: "Visitor <ref>".
        "visitor_ref": visitor_ref(conv.id),
    }


def csat_view(conv: Conversation, key: DataKey | None) -> dict[str, Any] | None:
    """The visitor's rating and comment (decrypted), or None if they did not rate it."""
    if conv.csat_rating is None:
        return None
    comment = None
    if conv.csat_comment is not None and key is not None:
        try:
            comment = key.decrypt(FieldRef("conversations", conv.id, "csat.comment"), conv.csat_comment)
        except DecryptionFailed:
            comment = "[unreadable]"
    return {"rating": conv.csat_rating, "comment": comment}


def visitor_ref(conversation_id: str) -> str:
    return hashlib.sha256(conversation_id.encode()).hexdigest()[:6]


@dataclass(frozen=True)
class Started:
    conversation: Conversation
    message: MessageView
    token: str
    is_new: bool = True


class Conversations:
    def __init__(
        self,
        db: Database,
        keys: KeyRingSource,
        *,
        resume_days: int,
        clock: Callable[[], datetime] = utcnow,
        key_cache: DataKeyCache | None = None,
        hmac_keys: HmacKeys | None = None,
        pipeline: WritePipeline | None = None,
        outbox: Outbox | None = None,
    ):
        self._db = db
        # Without a running pipeline (CLI tools, tests) each message is written as its own batch.
        self._pipeline = pipeline or WritePipeline(db)
        self._outbox = outbox or Outbox(db, clock=clock)  # [outbox] no endpoints until refreshed
        self._hmac = hmac_keys
        self._keys = keys
        self._resume = timedelta(days=resume_days)
        self._clock = clock
        self._cache = key_cache or DataKeyCache()

    # --- keys ----------------------------------------------------------------------------------

    async def _data_key(self, conversation_id: str) -> DataKey:
        cached = self._cache.get(conversation_id)
        if cached is not None:
            return cached
        wrapped = await self._db.data_keys.get(conversation_id)
        if wrapped is None:
            raise NotFound("This conversation no longer exists.")
        key = self._keys.current().unwrap(conversation_id, wrapped)
        self._cache.put(conversation_id, key)
        return key

    async def data_key(self, conversation_id: str) -> DataKey:
        """The conversation's data key, for records sealed beside its messages (internal notes, the
        chunks of its files); NotFound once it is erased."""
        return await self._data_key(conversation_id)

    def _view(self, key: DataKey, message: Message) -> MessageView:
        try:
            text, unreadable = key.decrypt(FieldRef("messages", message.id, "text"), message.text), False
            attachment = self._file(key, message)
        except DecryptionFailed:
            # Tampered, moved or damaged: show the gap rather than hide the whole history.
            log.warning("message_unreadable", conversation_id=message.conversation_id, message_id=message.id)
            text, unreadable, attachment = "", True, None
        buttons: tuple[Mapping[str, str], ...] = ()
        if message.buttons is not None:
            try:
                buttons = tuple(json.loads(key.decrypt(FieldRef("messages", message.id, "buttons"), message.buttons)))
            except DecryptionFailed:
                log.warning("message_unreadable", conversation_id=message.conversation_id, message_id=message.id)
                unreadable = True
        return MessageView(
            message.id,
            message.conversation_id,
            message.sender,
            message.client_id,
            text,
            message.created_at,
            message.agent_id,
            unreadable,
            bot=message.bot,
            buttons=buttons,
            attachment=attachment,
        )

    @staticmethod
    def _file(key: DataKey, message: Message) -> FileInfo | None:
        ref = message.attachment
        if ref is None:
            return None
        if ref.removed:
            return FileInfo(ref.id, "", ref.type, ref.size, removed=True)
        name = key.decrypt(FieldRef("messages", message.id, "attachment.name"), ref.name)
        return FileInfo(ref.id, name, ref.type, ref.size)

    def _seal_message(
        self,
        key: DataKey,
        conversation_id: str,
        sender: Sender,
        client_id: str,
        text: str,
        agent_id: str | None = None,
        attachment: FileInfo | None = None,
        *,
        bot: Mapping[str, str] | None = None,
        buttons: Sequence[Mapping[str, str]] = (),
    ) -> Message:
        message_id = new_message_id()
        sealed_buttons = None
        if buttons:
            plain = json.dumps([{"title": b["title"], "payload": b["payload"]} for b in buttons])
            sealed_buttons = key.encrypt(FieldRef("messages", message_id, "buttons"), plain)
        sealed_file = None
        if attachment is not None:
            name = key.encrypt(FieldRef("messages", message_id, "attachment.name"), attachment.name)
            sealed_file = AttachmentRef(attachment.id, attachment.type, attachment.size, name)
        return Message(
            id=message_id,
            conversation_id=conversation_id,
            sender=sender,
            client_id=client_id,
            created_at=self._clock(),
            text=key.encrypt(FieldRef("messages", message_id, "text"), text),
            text_length=len(text),
            agent_id=agent_id,
            bot=dict(bot) if bot is not None else None,
            buttons=sealed_buttons,
            attachment=sealed_file,
        )

    async def _store(
        self,
        key: DataKey,
        message: Message,
        announce: Announce | None = None,
        *,
        counted: bool = True,
        admitted: bool = False,
        deliveries: Sequence[Delivery] | None = None,
    ) -> tuple[MessageView, bool, Conversation | None]:
        """Store once through the write pipeline; returns the view, whether it is new, and the
        conversation if this message reopened it.

        `announce` runs as soon as the batch holding a new message is journaled, before the
        conversations' bookkeeping write: recipients see it one database round trip sooner. The
        return (the ack) waits for the bookkeeping too. `counted=False` for a first message, which
        the conversation it created already counts.
        """
        if deliveries is None:
            deliveries = self._outbox.message_created(key, message)  # written in the message's batch
        pending = self._pipeline.submit(
            message,
            reopen=message.sender == "visitor" and counted,
            counted=counted,
            admitted=admitted,
            deliveries=deliveries,
        )
        with self._pipeline.caller():
            stored = await pending.stored
            view = self._view(key, stored.message)
            try:
                if stored.is_new and announce is not None:
                    await announce(view)
            finally:
                reopened = await pending.done
        return view, stored.is_new, reopened

    # --- visitors ------------------------------------------------------------------------------

    async def start(self, first: VisitorMessageIn, context: VisitorContext, *, with_bot: bool = False) -> Started:
        """The visitor's first message: the moment contact begins and anything is stored.

        `with_bot`: the site has a bot, so the conversation starts in `bot` (an offline message
        goes to people at once).

        A resend of the same first message (its ack was lost with the connection) finds the
        conversation it already started instead of starting another; the client id is a
        128-bit random value only that browser knows, so it may stand in for the token once.
        """
        # Refuse an overload before anything is written: once the conversation is stored, its
        # first message is queued whatever the load (never a conversation without it).
        self._pipeline.admit()
        first_client_hash = None
        if len(first.client_id) >= MIN_RECOVERABLE_CLIENT_ID:
            # No read first: a resend (rare) meets the unique index below and is answered there.
            first_client_hash = hash_token("first-message:" + first.client_id)
        now = self._clock()
        conversation_id = new_conversation_id()
        key, wrapped = self._keys.current().new_data_key(conversation_id)
        secret = new_secret()
        plain = {
            "name": first.profile.name,
            "email": first.profile.email,
            "page_url": first.profile.page_url,
            "language": first.profile.language,
            "ip": context.ip,
            "user_agent": context.user_agent,
        }
        visitor = {
            name: key.encrypt(FieldRef("conversations", conversation_id, f"visitor.{name}"), value)
            for name, value in plain.items()
            if value
        }
        message = self._seal_message(key, conversation_id, "visitor", first.client_id, first.text)
        conv = Conversation(
            id=conversation_id,
            status="bot" if with_bot and not first.offline else "open",
            created_at=now,
            last_activity_at=message.created_at,
            message_count=1,
            last_message_id=message.id,
            first_client_hash=first_client_hash,
            resume_token_hash=hash_token(secret),
            resume_expires_at=now + self._resume,
            offline=first.offline,
            notice_version=first.notice_version,
            site_id=first.site_id,
            visitor=visitor,
            # Without it a data-subject request cannot find this conversation by e-mail.
            email_index=self._hmac.blind_index(first.profile.email) if self._hmac and first.profile.email else None,
        )
        # Key first: a conversation never exists without the key that reads it.
        await self._db.data_keys.put(conversation_id, wrapped, now)
        if not await self._db.conversations.insert(conv):
            # The same first message arrived twice at once: the other copy won.
            await self._db.data_keys.delete(conversation_id)
            earlier = await self._db.conversations.by_first_client(first_client_hash or "")
            if earlier is None:
                raise StorageUnavailable()
            return await self._restart(earlier, first)
        self._cache.put(conversation_id, key)
        # Counted in the conversation already: no bookkeeping write for the first message.
        deliveries = self._outbox.conversation_started(key, conv, plain, message)
        # The report's count is folded in behind, with the conversations' bookkeeping.
        self._pipeline.defer_rollups([rollups.started(conv)])
        view, _, _ = await self._store(key, message, counted=False, admitted=True, deliveries=deliveries)
        return Started(conv, view, f"{conversation_id}.{secret}")

    async def _restart(self, conv: Conversation, resent: VisitorMessageIn) -> Started:
        """Answer a resent first message: same conversation and message, a fresh token."""
        client_id = resent.client_id
        first = await self._db.messages.by_client_id(conv.id, "visitor", client_id)
        # A copy arriving at the same moment may find the conversation a moment before its first
        # message is stored by the other: give it that moment.
        deadline = asyncio.get_running_loop().time() + 2.0
        while first is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
            first = await self._db.messages.by_client_id(conv.id, "visitor", client_id)
        key = await self._data_key(conv.id)
        if first is None:
            # The conversation was stored but its first message was not (the write failed, or
            # the process died in between): this resend carries it. The unique index keeps one.
            message = self._seal_message(key, conv.id, "visitor", client_id, resent.text)
            view, _, _ = await self._store(key, message, counted=False)
        else:
            view = self._view(key, first)
        secret = new_secret()
        await self._db.conversations.replace_resume(conv.id, hash_token(secret), self._clock() + self._resume)
        return Started(conv, view, f"{conv.id}.{secret}", is_new=False)

    async def resume(self, token: str) -> tuple[Conversation, list[MessageView]]:
        conv = await self.by_token(token)
        await self._db.conversations.extend_resume(conv.id, self._clock() + self._resume)
        return conv, await self.history(conv.id)

    async def by_token(self, token: str) -> Conversation:
        """The conversation this resume token opens (valid, not expired, not forgotten)."""
        conversation_id = self.conversation_for_token_format(token)
        conv = await self._db.conversations.get(conversation_id)
        secret = token.partition(".")[2]
        if (
            conv is None
            or not conv.resume_token_hash
            or not hmac.compare_digest(conv.resume_token_hash, hash_token(secret))
            or conv.resume_expires_at <= self._clock()
        ):
            raise InvalidToken()
        return conv

    @staticmethod
    def conversation_for_token_format(token: str) -> str:
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise InvalidToken()
        return match.group(1)

    async def visitor_send(
        self, conversation_id: str, client_id: str, text: str, announce: Announce | None = None
    ) -> tuple[MessageView, bool, Conversation | None]:
        """Store a visitor message; a visitor writing to a closed conversation reopens it.

        Returns the message, whether it is new, and the conversation if it was reopened.
        """
        key = await self._data_key(conversation_id)
        message = self._seal_message(key, conversation_id, "visitor", client_id, text)
        deliveries: list[Delivery] | None = None
        reported = False
        if self._outbox.listens(STATUS_CHANGED):
            current = await self._db.conversations.get(conversation_id)
            if current is not None and current.status == "closed":
                # This message reopens it: `conversation.status_changed` goes in the message's own
                # transaction (with the reopen), so a crash cannot lose it.
                deliveries = [
                    *self._outbox.message_created(key, message),
                    *self._outbox.status_changed(key, replace(current, status="open", closed_at=None)),
                ]
                reported = True
        view, is_new, reopened = await self._store(key, message, announce, deliveries=deliveries)
        if reopened is not None and not reported and self._outbox.listens(STATUS_CHANGED):
            # Closed between that read and the write (an agent closing it just then, rare): written
            # as soon as the reopen committed.
            await self._outbox.insert(self._outbox.status_changed(key, reopened))
        return view, is_new, reopened

    async def transcript(self, conversation_id: str, to: str, language: str | None = None) -> int:
        """Queue the conversation so far as an e-mail to `to` (the visitor asked for it); returns
        how many messages it holds. Internal notes never leave; unreadable messages are skipped."""
        if not self._outbox.mail_enabled:
            raise EmailUnavailable("E-mail is not set up here.")
        conv = await self.get(conversation_id)
        key = await self._data_key(conversation_id)
        language = language or self._visitor_field(key, conv, "language") or "en"
        lines = [
            (m.sender, iso(m.created_at) or "", m.text)
            for m in await self.history(conversation_id)
            if m.sender in VISITOR_VISIBLE and not m.unreadable
        ]
        await self._outbox.insert(self._outbox.transcript_mail(key, conv, to, lines, language))
        return len(lines)

    async def rate(self, conversation_id: str, rating: int, comment: str | None) -> Conversation:
        """The visitor's satisfaction rating (1-5) of a closed conversation, once; the comment is
        sealed with the conversation's key, so it goes with the conversation under retention."""
        key = await self._data_key(conversation_id)
        await self.fold_bookkeeping([conversation_id])
        blob = key.encrypt(FieldRef("conversations", conversation_id, "csat.comment"), comment) if comment else None
        conv = await self._db.conversations.rate(conversation_id, rating, blob, self._clock())
        if conv is None:
            raise Conflict("A conversation can be rated once, after it has closed.")
        return conv

    async def send_file(
        self,
        conversation_id: str,
        client_id: str,
        attachment: FileInfo,
        *,
        agent: User | None = None,
        announce: Announce | None = None,
    ) -> tuple[MessageView, bool, Conversation | None]:
        """Store the message that carries a stored file: from the visitor (reopens a closed
        conversation, as `visitor_send`) or from `agent` (refused once closed, as `agent_reply`)."""
        if agent is not None and (await self.get(conversation_id)).status == "closed":
            raise ConversationClosed()
        key = await self._data_key(conversation_id)
        sender: Sender = "visitor" if agent is None else "agent"
        message = self._seal_message(
            key, conversation_id, sender, client_id, "", agent.id if agent else None, attachment=attachment
        )
        return await self._store(key, message, announce)

    async def forget(self, conversation_id: str) -> Conversation | None:
        """The visitor's "forget this device": the conversation ends for the visitor.

        The resume token stops working, the first message's client id no longer restarts it, the
        conversation closes (agents are told), and the visitor's other sockets on it are closed.
        Returns the conversation after the change (None if it no longer exists).
        """
        now = self._clock()
        await self.fold_bookkeeping([conversation_id])
        conv = await self._db.conversations.forget_visitor(conversation_id, now)
        await self._db.endings.record([conversation_id], "forgotten", now)
        return conv

    def forget_cached_key(self, conversation_id: str) -> None:
        """Another node or the CLI erased this conversation: drop its data key from memory."""
        self._cache.forget(conversation_id)

    # --- agents --------------------------------------------------------------------------------

    async def history(self, conversation_id: str) -> list[MessageView]:
        messages = await self._db.messages.history(conversation_id, HISTORY_LIMIT)
        if not messages:
            return []
        key = await self._data_key(conversation_id)
        return [self._view(key, m) for m in messages]

    async def by_status(self, status: str, limit: int) -> list[Conversation]:
        stored: ConversationStatus = "closed" if status == "closed" else "bot" if status == "bot" else "open"
        return await self._db.conversations.by_status(stored, limit)

    async def _data_keys(self, conversation_ids: list[str]) -> dict[str, DataKey]:
        keys = {c: k for c in conversation_ids if (k := self._cache.get(c)) is not None}
        missing = [c for c in conversation_ids if c not in keys]
        if missing:
            ring = self._keys.current()
            for owner_id, wrapped in (await self._db.data_keys.get_many(missing)).items():
                keys[owner_id] = ring.unwrap(owner_id, wrapped)
                self._cache.put(owner_id, keys[owner_id])
        return keys

    async def inbox(
        self, view: str, user_id: str, limit: int, *, sites: Collection[str] | None = None
    ) -> list[dict[str, Any]]:
        """Rows for the agent inbox: label, last message preview, unread count for this agent.

        `sites`: only conversations of these sites (an agent's teams); None for every site.
        """
        store = self._db.conversations
        if view == "waiting":
            convs = await store.by_status("open", limit, unassigned=True, sites=sites)
        elif view == "mine":
            convs = await store.by_status("open", limit, assigned_to=user_id, sites=sites)
        elif view == "bot":
            convs = await store.by_status("bot", limit, sites=sites)
        else:
            convs = await store.by_status("closed" if view == "closed" else "open", limit, sites=sites)
        # Newest activity first, with what this node stored and has not folded in yet.
        convs = sorted((self._pipeline.overlay(c) for c in convs), key=lambda c: c.last_activity_at, reverse=True)
        return await self._rows(convs, user_id)

    async def rows(self, convs: Sequence[Conversation], user_id: str) -> list[dict[str, Any]]:
        """Inbox rows (label and preview decrypted) for these conversations, as stored."""
        return await self._rows([self._pipeline.overlay(c) for c in convs], user_id)

    async def _rows(self, convs: Sequence[Conversation], user_id: str) -> list[dict[str, Any]]:
        ids = [c.id for c in convs]
        keys = await self._data_keys(ids)
        last_ids = [c.last_message_id for c in convs if c.last_message_id]
        last = {m.conversation_id: m for m in await self._db.messages.by_ids(last_ids)} if last_ids else {}
        seen = await self._db.reads.seen(user_id, ids)
        rows = []
        for conv in convs:
            key = keys.get(conv.id)
            row = summary_to_wire(conv)
            row["label"] = self._label(conv, key)
            message = last.get(conv.id)
            if message is not None and key is not None:
                view_ = self._view(key, message)
                shown = view_.attachment.name if view_.attachment else view_.text  # a file: its name
                row["preview"] = {
                    "sender": view_.sender,
                    "agent_id": view_.agent_id,
                    "text": shown[:140],
                    "created_at": iso(view_.created_at),
                }
            row["unread"] = max(0, conv.message_count - seen.get(conv.id, 0))
            rows.append(row)
        return rows

    async def find_text(
        self, convs: Sequence[Conversation], pattern: re.Pattern[str], max_messages: int
    ) -> tuple[dict[str, str], int, bool]:
        """Decrypt these conversations' messages in memory and match `pattern`; nothing is stored.

        Returns a snippet of the first match per conversation, how many messages were decrypted,
        and whether `max_messages` cut the candidates short.
        """
        if not convs:
            return {}, 0, False
        messages = await self._db.messages.of_conversations([c.id for c in convs], max_messages + 1)
        truncated = len(messages) > max_messages
        messages = messages[:max_messages]
        keys = await self._data_keys(sorted({m.conversation_id for m in messages}))
        found: dict[str, str] = {}
        for message in messages:
            key = keys.get(message.conversation_id)
            if key is None or message.conversation_id in found:
                continue
            text = self._view(key, message).text
            match = pattern.search(text)
            if match is not None:
                start = max(0, match.start() - 60)
                found[message.conversation_id] = ("…" if start else "") + text[start : match.end() + 60]
        return found, len(messages), truncated

    @staticmethod
    def pseudonym_label(conversation_id: str) -> str:
        return "Visitor " + visitor_ref(conversation_id)

    def _label(self, conv: Conversation, key: DataKey | None) -> str:
        blob = conv.visitor.get("name")
        if blob is not None and key is not None:
            try:
                return key.decrypt(FieldRef("conversations", conv.id, "visitor.name"), blob)
            except DecryptionFailed:
                pass
        return self.pseudonym_label(conv.id)

    async def claim(self, conversation_id: str, agent_id: str, *, force: bool) -> tuple[Conversation, bool]:
        # An agent taking a conversation from the bot: it is handed over first (the bot falls silent).
        await self.hand_over(conversation_id, "agent")
        # [outbox] the assignment and its event in one transaction
        key = await self._data_key(conversation_id) if self._outbox.listens("conversation.assigned") else None
        conv, won = await self._outbox.write(
            lambda session: self._db.conversations.claim(conversation_id, agent_id, force=force, session=session),
            lambda r: self._outbox.conversation_assigned(key, r[0]) if key and r[1] and r[0] else [],
            listening=key is not None,
        )
        if conv is None:
            raise NotFound("No such conversation.")
        return conv, won

    async def mark_read(self, conversation_id: str, user_id: str, seen: int) -> None:
        await self._db.reads.mark(conversation_id, user_id, seen)

    async def fold_bookkeeping(self, only: Collection[str] | None = None) -> None:
        """Write this node's unfolded counters and clocks now (of `only` these conversations):
        for reads that bypass `overlay`, and changes that read them (a close counts the first
        response time in reports)."""
        await self._pipeline.fold_now(only)

    async def get(self, conversation_id: str) -> Conversation:
        conv = await self._db.conversations.get(conversation_id)
        if conv is None:
            raise NotFound("No such conversation.")
        return self._pipeline.overlay(conv)

    async def open(self, conversation_id: str) -> tuple[Conversation, dict[str, str], list[MessageView]]:
        """Everything an agent sees when opening a conversation, decrypted."""
        conv, _, visitor, messages = await self.open_with_key(conversation_id)
        return conv, visitor, messages

    async def open_with_key(
        self, conversation_id: str
    ) -> tuple[Conversation, DataKey, dict[str, str], list[MessageView]]:
        conv = await self.get(conversation_id)
        key, messages = await asyncio.gather(self._data_key(conversation_id), self.history(conversation_id))
        visitor: dict[str, str] = {}
        for name, blob in conv.visitor.items():
            if name == "ip":
                continue  # kept for abuse handling and export, not shown in the console
            try:
                visitor[name] = key.decrypt(FieldRef("conversations", conversation_id, f"visitor.{name}"), blob)
            except DecryptionFailed:
                visitor[name] = "[unreadable]"
        return conv, key, visitor, messages

    async def set_labels(self, conversation_id: str, labels: list[str]) -> Conversation:
        conv = await self._db.conversations.set_labels(conversation_id, labels)
        if conv is None:
            raise NotFound("No such conversation.")
        return conv

    async def earlier(self, conversation_id: str, limit: int) -> list[Conversation]:
        """The same person's other conversations: same e-mail, found through the blind index only."""
        conv = await self.get(conversation_id)
        if conv.email_index is None:
            return []
        found = await self._db.conversations.by_email_index(conv.email_index, exclude=conv.id, limit=limit)
        return [self._pipeline.overlay(c) for c in found]

    async def agent_reply(
        self,
        agent: User,
        conversation_id: str,
        client_id: str,
        text: str,
        announce: Announce | None = None,
        taken_over: Callable[[Conversation], Awaitable[None]] | None = None,
    ) -> tuple[MessageView, bool]:
        """An agent's reply. Replying to a conversation the bot has takes it over first (assigned
        to this agent); `taken_over` is then told the conversation after the change."""
        conv = await self.get(conversation_id)
        if conv.status == "closed":
            raise ConversationClosed()
        if conv.status == "bot":
            conv, _ = await self.claim(conversation_id, agent.id, force=False)
            if taken_over is not None:
                await taken_over(conv)
        key = await self._data_key(conversation_id)
        message = self._seal_message(key, conversation_id, "agent", client_id, text, agent.id)
        view, is_new, _ = await self._store(key, message, announce)
        return view, is_new

    async def agent_email_reply(
        self, agent: User, conversation_id: str, client_id: str, text: str, announce: Announce | None = None
    ) -> tuple[MessageView, bool]:
        """An agent's answer stored like a reply and e-mailed to the visitor's address.

        The e-mail is an outbox delivery written in the message's own batch (one transaction):
        sent at least once if the message is stored, never if it is not; a resend (same client
        id) answers with the stored copy and queues no second e-mail.
        """
        conv = await self.get(conversation_id)
        if conv.status == "closed":
            raise ConversationClosed()
        if not self._outbox.mail_enabled:
            raise EmailUnavailable("E-mail is not set up here.")
        key = await self._data_key(conversation_id)
        address = self._visitor_field(key, conv, "email")
        if address is None:
            raise EmailUnavailable("This visitor left no e-mail address.")
        language = self._visitor_field(key, conv, "language") or "en"
        message = self._seal_message(key, conversation_id, "agent", client_id, text, agent.id)
        deliveries = [
            *self._outbox.message_created(key, message),
            *self._outbox.agent_reply_mail(key, conv, address, text, language),
        ]
        view, is_new, _ = await self._store(key, message, announce, deliveries=deliveries)
        return view, is_new

    @staticmethod
    def _visitor_field(key: DataKey, conv: Conversation, name: str) -> str | None:
        blob = conv.visitor.get(name)
        if blob is None:
            return None
        try:
            return key.decrypt(FieldRef("conversations", conv.id, f"visitor.{name}"), blob)
        except DecryptionFailed:
            return None

    async def set_status(self, conversation_id: str, status: str) -> Conversation:
        # [outbox] the change and its event in one transaction
        key = await self._data_key(conversation_id) if self._outbox.listens("conversation.status_changed") else None
        await self.fold_bookkeeping([conversation_id])  # a close reports the first response time
        changed = await self._outbox.write(
            lambda session: self._db.conversations.set_status(
                conversation_id, "closed" if status == "closed" else "open", self._clock(), session=session
            ),
            lambda c: self._outbox.status_changed(key, c) if key and c else [],
            listening=key is not None,
        )
        if changed is None:
            return await self.get(conversation_id)  # already in that state (or NotFound)
        return changed

    # --- bots ----------------------------------------------------------------------------------

    async def hand_over(self, conversation_id: str, reason: str) -> Conversation | None:
        """`bot` -> waiting, with `conversation.handed_over` and `conversation.status_changed` in
        the same transaction. None when the conversation was not with the bot (one hand-over wins)."""
        listening = self._outbox.listens(HANDED_OVER, STATUS_CHANGED)
        key = await self._data_key(conversation_id) if listening else None
        return await self._outbox.write(
            lambda session: self._db.conversations.hand_over(conversation_id, reason, self._clock(), session=session),
            lambda c: (
                self._outbox.handed_over(key, c, reason) + self._outbox.status_changed(key, c) if key and c else []
            ),
            listening=key is not None,
        )

    async def bot_send(
        self,
        conversation_id: str,
        client_id: str,
        text: str,
        bot: Mapping[str, str],
        buttons: Sequence[Mapping[str, str]] = (),
        announce: Announce | None = None,
    ) -> tuple[MessageView, bool]:
        """A bot's message, stored like an agent's (same pipeline, same batch as its deliveries).

        `client_id` is derived from what it answers, so a turn run twice stores it once.
        """
        key = await self._data_key(conversation_id)
        message = self._seal_message(key, conversation_id, "bot", client_id, text, bot=bot, buttons=buttons)
        deliveries = self._outbox.message_created(key, message, bot)
        view, is_new, _ = await self._store(key, message, announce, deliveries=deliveries)
        return view, is_new

    async def queue_bot_event(
        self, conversation_id: str, endpoint_id: str, event_type: str, data: dict[str, Any]
    ) -> None:
        """An event for a webhook bot (its hidden endpoint), sealed under the conversation's key."""
        key = await self._data_key(conversation_id)
        await self._outbox.insert([self._outbox.for_bot(key, endpoint_id, event_type, conversation_id, data)])

    async def bot_spoke(self, conversation_id: str) -> bool:
        return await self._db.messages.bot_spoke(conversation_id)

    async def count_bot_turn(self, conversation_id: str, *, answered: bool) -> int:
        return await self._db.conversations.bot_turn(conversation_id, answered=answered)

    async def visitor_fields(self, conv: Conversation) -> dict[str, str]:
        """The visitor's stored fields, decrypted (for what a site lets its bot know, and redaction)."""
        key = await self._data_key(conv.id)
        fields: dict[str, str] = {}
        for name, blob in conv.visitor.items():
            try:
                fields[name] = key.decrypt(FieldRef("conversations", conv.id, f"visitor.{name}"), blob)
            except DecryptionFailed:
                continue
        return fields

    # --- key rotation --------------------------------------------------------------------------

    async def rewrap_all(self) -> int:
        """Re-wrap every data key under the active master key. Messages are not touched."""
        count = 0
        ring = self._keys.current()
        async for owner_id, wrapped in self._db.data_keys.not_under(ring.active_id):
            if await self._db.data_keys.replace(owner_id, wrapped, ring.rewrap(owner_id, wrapped)):
                count += 1
        return count
