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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_service.crypto import DataKey, DataKeyCache, FieldRef, HmacKeys, KeyRingSource, hash_token, new_secret
from chat_service.errors import ConversationClosed, DecryptionFailed, InvalidToken, NotFound, StorageUnavailable
from chat_service.logging import get_logger
from chat_service.models import Conversation, ConversationStatus, Message, Sender, User
from chat_service.outbox.events import HANDED_OVER, STATUS_CHANGED, Outbox
from chat_service.pipeline import WritePipeline
from chat_service.storage import Database
from chat_service.storage.outbox import Delivery
from chat_service.validation import VisitorMessageIn

log = get_logger(__name__)
HISTORY_LIMIT = 200
# A first message's client id this long (random, as the widget makes them: 128 bits) lets a resend
# after a lost ack find its conversation from another connection. Shorter ids do not.
MIN_RECOVERABLE_CLIENT_ID = 22
_TOKEN = re.compile(r"^(c[0-9a-f]{24})\.([A-Za-z0-9_-]{43})$")


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
    }


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

    def _view(self, key: DataKey, message: Message) -> MessageView:
        try:
            text, unreadable = key.decrypt(FieldRef("messages", message.id, "text"), message.text), False
        except DecryptionFailed:
            # Tampered, moved or damaged: show the gap rather than hide the whole history.
            log.warning("message_unreadable", conversation_id=message.conversation_id, message_id=message.id)
            text, unreadable = "", True
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
            message.bot,
            buttons,
        )

    def _seal_message(
        self,
        key: DataKey,
        conversation_id: str,
        sender: Sender,
        client_id: str,
        text: str,
        agent_id: str | None = None,
        *,
        bot: Mapping[str, str] | None = None,
        buttons: Sequence[Mapping[str, str]] = (),
    ) -> Message:
        message_id = new_message_id()
        sealed_buttons = None
        if buttons:
            plain = json.dumps([{"title": b["title"], "payload": b["payload"]} for b in buttons])
            sealed_buttons = key.encrypt(FieldRef("messages", message_id, "buttons"), plain)
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
            first_client_hash = hash_token("first-message:" + first.client_id)
            earlier = await self._db.conversations.by_first_client(first_client_hash)
            if earlier is not None:
                return await self._restart(earlier, first)
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
        await self._db.conversations.extend_resume(conversation_id, self._clock() + self._resume)
        return conv, await self.history(conversation_id)

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
        return await self._store(key, message, announce)

    async def forget(self, conversation_id: str) -> Conversation | None:
        """The visitor's "forget this device": the conversation ends for the visitor.

        The resume token stops working, the first message's client id no longer restarts it, the
        conversation closes (agents are told), and the visitor's other sockets on it are closed.
        Returns the conversation after the change (None if it no longer exists).
        """
        now = self._clock()
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

    async def inbox(self, view: str, user_id: str, limit: int) -> list[dict[str, Any]]:
        """Rows for the agent inbox: label, last message preview, unread count for this agent."""
        store = self._db.conversations
        if view == "waiting":
            convs = await store.by_status("open", limit, unassigned=True)
        elif view == "mine":
            convs = await store.by_status("open", limit, assigned_to=user_id)
        elif view == "bot":
            convs = await store.by_status("bot", limit)
        else:
            convs = await store.by_status("closed" if view == "closed" else "open", limit)
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
                row["preview"] = {"sender": view_.sender, "text": view_.text[:140], "created_at": iso(view_.created_at)}
            row["unread"] = max(0, conv.message_count - seen.get(conv.id, 0))
            rows.append(row)
        return rows

    @staticmethod
    def pseudonym_label(conversation_id: str) -> str:
        return "Visitor " + hashlib.sha256(conversation_id.encode()).hexdigest()[:6]

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

    async def get(self, conversation_id: str) -> Conversation:
        conv = await self._db.conversations.get(conversation_id)
        if conv is None:
            raise NotFound("No such conversation.")
        return conv

    async def open(self, conversation_id: str) -> tuple[Conversation, dict[str, str], list[MessageView]]:
        """Everything an agent sees when opening a conversation, decrypted."""
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
        return conv, visitor, messages

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

    async def set_status(self, conversation_id: str, status: str) -> Conversation:
        # [outbox] the change and its event in one transaction
        key = await self._data_key(conversation_id) if self._outbox.listens("conversation.status_changed") else None
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
