"""The conversation domain: the contact rule, the message flow, closing and reopening.

Nothing is stored until a visitor's first message (visitor-initiated contact). Every text and
every visitor field is encrypted under the conversation's own data key before it reaches storage.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_service.crypto import DataKey, DataKeyCache, FieldRef, HmacKeys, KeyRingSource, hash_token, new_secret
from chat_service.errors import ConversationClosed, DecryptionFailed, InvalidToken, NotFound
from chat_service.logging import get_logger
from chat_service.models import Conversation, Message, Sender, User
from chat_service.storage import Database
from chat_service.validation import VisitorMessageIn

log = get_logger(__name__)
HISTORY_LIMIT = 200
_TOKEN = re.compile(r"^(c[0-9a-f]{24})\.([A-Za-z0-9_-]{43})$")


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
        return wire


def summary_to_wire(conv: Conversation) -> dict[str, Any]:
    """What agents see in a list: no decryption needed."""
    return {
        "id": conv.id,
        "status": conv.status,
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
    ):
        self._db = db
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
        return MessageView(
            message.id,
            message.conversation_id,
            message.sender,
            message.client_id,
            text,
            message.created_at,
            message.agent_id,
            unreadable,
        )

    def _seal_message(
        self,
        key: DataKey,
        conversation_id: str,
        sender: Sender,
        client_id: str,
        text: str,
        agent_id: str | None = None,
    ) -> Message:
        message_id = new_message_id()
        return Message(
            id=message_id,
            conversation_id=conversation_id,
            sender=sender,
            client_id=client_id,
            created_at=self._clock(),
            text=key.encrypt(FieldRef("messages", message_id, "text"), text),
            text_length=len(text),
            agent_id=agent_id,
        )

    async def _store(self, key: DataKey, message: Message) -> tuple[MessageView, bool]:
        stored, is_new = await self._db.messages.insert_once(message)
        if is_new:
            await self._db.conversations.record_message(message.conversation_id, message.created_at)
        return self._view(key, stored), is_new

    # --- visitors ------------------------------------------------------------------------------

    async def start(self, first: VisitorMessageIn, context: VisitorContext) -> Started:
        """The visitor's first message: the moment contact begins and anything is stored."""
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
        conv = Conversation(
            id=conversation_id,
            status="open",
            created_at=now,
            last_activity_at=now,
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
        await self._db.conversations.insert(conv)
        self._cache.put(conversation_id, key)
        message = self._seal_message(key, conversation_id, "visitor", first.client_id, first.text)
        view, _ = await self._store(key, message)
        conv.message_count = 1
        return Started(conv, view, f"{conversation_id}.{secret}")

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
        self, conversation_id: str, client_id: str, text: str
    ) -> tuple[MessageView, bool, Conversation | None]:
        """Store a visitor message; a visitor writing to a closed conversation reopens it.

        Returns the message, whether it is new, and the conversation if it was reopened.
        """
        key = await self._data_key(conversation_id)
        message = self._seal_message(key, conversation_id, "visitor", client_id, text)
        view, is_new = await self._store(key, message)
        reopened = None
        if is_new:
            reopened = await self._db.conversations.set_status(conversation_id, "open", self._clock())
        return view, is_new, reopened

    async def forget(self, conversation_id: str) -> None:
        """The visitor's "forget this device": the resume token stops working."""
        await self._db.conversations.revoke_resume(conversation_id)

    # --- agents --------------------------------------------------------------------------------

    async def history(self, conversation_id: str) -> list[MessageView]:
        messages = await self._db.messages.history(conversation_id, HISTORY_LIMIT)
        if not messages:
            return []
        key = await self._data_key(conversation_id)
        return [self._view(key, m) for m in messages]

    async def by_status(self, status: str, limit: int) -> list[Conversation]:
        return await self._db.conversations.by_status("closed" if status == "closed" else "open", limit)

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
        self, agent: User, conversation_id: str, client_id: str, text: str
    ) -> tuple[MessageView, bool]:
        conv = await self.get(conversation_id)
        if conv.status == "closed":
            raise ConversationClosed()
        key = await self._data_key(conversation_id)
        message = self._seal_message(key, conversation_id, "agent", client_id, text, agent.id)
        return await self._store(key, message)

    async def set_status(self, conversation_id: str, status: str) -> Conversation:
        changed = await self._db.conversations.set_status(
            conversation_id, "closed" if status == "closed" else "open", self._clock()
        )
        if changed is None:
            return await self.get(conversation_id)  # already in that state (or NotFound)
        return changed

    # --- key rotation --------------------------------------------------------------------------

    async def rewrap_all(self) -> int:
        """Re-wrap every data key under the active master key. Messages are not touched."""
        count = 0
        ring = self._keys.current()
        async for owner_id, wrapped in self._db.data_keys.not_under(ring.active_id):
            if await self._db.data_keys.replace(owner_id, wrapped, ring.rewrap(owner_id, wrapped)):
                count += 1
        return count
