"""The transactional outbox API the domain calls: which events exist, what each carries, who listens.

The domain asks `Outbox` for the deliveries a change produces and writes them with the change
(`Outbox.write`, one transaction; a message's deliveries ride its write-pipeline batch). A
delivery's payload is encrypted under the conversation's data key (AAD: the outbox record and
field), so erasing a conversation crypto-shreds its pending deliveries too. Payloads are thin
by default; text and visitor fields go only to endpoints that opted in to that field.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from chat_service.crypto import DataKey, FieldRef
from chat_service.models import Conversation, Message
from chat_service.outbox.schedule import WORST_CASE_SPAN
from chat_service.storage import Database
from chat_service.storage.outbox import Delivery, Endpoint

T = TypeVar("T")

CONVERSATION_CREATED = "conversation.created"
MESSAGE_CREATED = "message.created"
CONVERSATION_ASSIGNED = "conversation.assigned"
STATUS_CHANGED = "conversation.status_changed"
HANDED_OVER = "conversation.handed_over"
PRIVACY_ERASED = "privacy.erased"
TEST_EVENT = "webhook.test"
OFFLINE_MAIL = "email.offline_message"
AGENT_REPLY_MAIL = "email.agent_reply"
TRANSCRIPT_MAIL = "email.transcript"
WAITING_MAIL = "email.waiting"
# The pseudo-endpoint of e-mail deliveries (webhook endpoint ids start with "we").
MAIL_ENDPOINT = "mail"
EVENT_TYPES: tuple[str, ...] = (
    CONVERSATION_CREATED,
    MESSAGE_CREATED,
    CONVERSATION_ASSIGNED,
    STATUS_CHANGED,
    HANDED_OVER,
    PRIVACY_ERASED,
)
# Personal data an endpoint may opt in to, field by field (nothing of it is sent otherwise).
OPT_IN_FIELDS: tuple[str, ...] = (
    "message.text",
    "visitor.name",
    "visitor.email",
    "visitor.page_url",
    "visitor.language",
)
# Which data key of the payload each opt-in field fills.
_FIELD_KEYS = {
    "message.text": "text",
    "visitor.name": "visitor_name",
    "visitor.email": "visitor_email",
    "visitor.page_url": "visitor_page_url",
    "visitor.language": "visitor_language",
}
DEFAULT_RETENTION = timedelta(days=7)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_delivery_id() -> str:
    return "msg_" + secrets.token_hex(12)


def payload_aad(delivery_id: str) -> FieldRef:
    return FieldRef("outbox", delivery_id, "payload")


def strip_unopted(payload: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """Drop personal-data fields the endpoint does not (or no longer) opt in to."""
    allowed = {_FIELD_KEYS[f] for f in fields if f in _FIELD_KEYS}
    data = {k: v for k, v in payload.get("data", {}).items() if k not in _FIELD_KEYS.values() or k in allowed}
    return {**payload, "data": data}


@dataclass(frozen=True)
class MailRoute:
    """Where e-mail goes and comes from: the site's team address, the site's (else our) sender
    address, and links into the console (`console_url` + conversation id: `/console/c/<id>`)."""

    team_email: Callable[[str | None], str | None]
    sender: str
    console_url: str
    site_sender: Callable[[str | None], str | None] = lambda _site: None

    def link(self, conversation_id: str) -> str:
        return self.console_url + conversation_id

    def sender_for(self, site_id: str | None) -> str:
        return self.site_sender(site_id) or self.sender


@dataclass(frozen=True)
class Listener:
    endpoint_id: str
    events: frozenset[str]
    fields: frozenset[str]


class Outbox:
    """Builds deliveries for the endpoints that listen, and writes them with the change they report.

    The list of listening endpoints is cached; it is refreshed at once on changes made through
    this process and every few seconds by the worker (changes made on another node arrive then).
    """

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        retention: timedelta = DEFAULT_RETENTION,
        mail: MailRoute | None = None,
    ):
        self._db = db
        self._mail = mail
        self._clock = clock
        self._retention = retention
        self._listeners: list[Listener] = []
        self._wake: Callable[[], None] = lambda: None

    def on_enqueue(self, wake: Callable[[], None]) -> None:
        """Called after deliveries were committed (the local worker sends them at once)."""
        self._wake = wake

    def notify(self) -> None:
        self._wake()

    async def refresh(self) -> None:
        self.set_endpoints(await self._db.webhook_endpoints.all())

    def set_endpoints(self, endpoints: Sequence[Endpoint]) -> None:
        self._listeners = [Listener(e.id, frozenset(e.events), frozenset(e.fields)) for e in endpoints if e.enabled]

    @property
    def active(self) -> bool:
        """Anything that could be queued: an enabled endpoint, or e-mail set up."""
        return bool(self._listeners) or self._mail is not None

    def listens(self, *event_types: str) -> bool:
        return any(listener.events & set(event_types) for listener in self._listeners)

    # --- writing ------------------------------------------------------------------------------

    async def write(
        self,
        change: Callable[[Any], Awaitable[T]],
        deliveries: Callable[[T], Sequence[Delivery]],
        *,
        listening: bool,
    ) -> T:
        """Run `change(session)` and insert its deliveries in one transaction (alone if nobody listens)."""
        if not listening:
            return await change(None)
        result = await self._db.outbox.with_change(change, deliveries, any_deliveries=True)
        self.notify()
        return result

    async def insert(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries that report no change of ours in the database (test events, erasure reports)."""
        if deliveries:
            await self._db.outbox.insert(deliveries)
            self.notify()

    async def erased(self, conversation_ids: Sequence[str]) -> None:
        """After an erasure: every delivery about these conversations goes, and `privacy.erased` is queued.

        Written after the erasure committed (never report what did not happen); the endpoint list is
        re-read, as erasures also run from the command line.
        """
        if not conversation_ids:
            return
        await self._db.outbox.forget_conversations(conversation_ids)
        await self.refresh()
        await self.insert(self.privacy_erased(conversation_ids))

    # --- events -------------------------------------------------------------------------------

    def message_created(self, key: DataKey, message: Message, bot: Mapping[str, str] | None = None) -> list[Delivery]:
        """`message.created` for a newly stored message (visitor, agent or bot)."""
        listeners = self._for(MESSAGE_CREATED)
        if not listeners:
            return []
        data: dict[str, Any] = {
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "sender": message.sender,
            "created_at": iso(message.created_at),
        }
        if message.agent_id is not None:
            data["agent_id"] = message.agent_id
        if message.attachment is not None:  # the file's name stays out: it is personal data
            data["attachment"] = {"id": message.attachment.id, "type": message.attachment.type}
        if bot is not None:
            data["bot"] = dict(bot)
        text: str | None = None
        if any("message.text" in listener.fields for listener in listeners):
            text = key.decrypt(FieldRef("messages", message.id, "text"), message.text)
        return self._build(key, MESSAGE_CREATED, message.conversation_id, message.created_at, data, {"text": text})

    def conversation_started(
        self, key: DataKey, conv: Conversation, visitor: Mapping[str, str | None], first: Message
    ) -> list[Delivery]:
        """`conversation.created` and the first message's `message.created`, written with that message."""
        data = {
            "conversation_id": conv.id,
            "site_id": conv.site_id,
            "status": conv.status,
            "offline": conv.offline,
            "created_at": iso(conv.created_at),
        }
        personal = {f"visitor_{name}": visitor.get(name) for name in ("name", "email", "page_url", "language")}
        created = self._build(key, CONVERSATION_CREATED, conv.id, conv.created_at, data, personal)
        mail = self.offline_mail(key, conv, visitor, first) if conv.offline else []
        return created + self.message_created(key, first) + mail

    def offline_mail(
        self, key: DataKey, conv: Conversation, visitor: Mapping[str, str | None], first: Message
    ) -> list[Delivery]:
        """An offline message forwarded to the site's team address (if it has one and SMTP is set up)."""
        to = self._mail.team_email(conv.site_id) if self._mail else None
        if to is None:
            return []
        return self._mail_delivery(
            key,
            conv,
            OFFLINE_MAIL,
            to,
            text=key.decrypt(FieldRef("messages", first.id, "text"), first.text),
            link=self._link(conv.id),
            language=visitor.get("language") or "en",
            visitor_name=visitor.get("name"),
            visitor_email=visitor.get("email"),
        )

    @property
    def mail_enabled(self) -> bool:
        return self._mail is not None

    def agent_reply_mail(self, key: DataKey, conv: Conversation, to: str, text: str, language: str) -> list[Delivery]:
        """An agent's answer sent to the visitor's address, from the site's sender; replies reach the team."""
        reply_to = self._mail.team_email(conv.site_id) if self._mail else None
        return self._mail_delivery(key, conv, AGENT_REPLY_MAIL, to, text=text, language=language, reply_to=reply_to)

    def transcript_mail(
        self, key: DataKey, conv: Conversation, to: str, lines: Sequence[Sequence[str]], language: str
    ) -> list[Delivery]:
        """The conversation so far, to the address the visitor gave (at the visitor's request)."""
        return self._mail_delivery(
            key, conv, TRANSCRIPT_MAIL, to, lines=[list(line) for line in lines], language=language
        )

    def waiting_mail(self, key: DataKey, conv: Conversation, minutes: int) -> list[Delivery]:
        """Tell the site's team that a conversation has waited `minutes` for an agent (ids and a link only)."""
        to = self._mail.team_email(conv.site_id) if self._mail else None
        if to is None:
            return []
        return self._mail_delivery(key, conv, WAITING_MAIL, to, minutes=minutes, link=self._link(conv.id))

    def _link(self, conversation_id: str) -> str | None:
        return self._mail.link(conversation_id) if self._mail else None

    def _mail_delivery(
        self, key: DataKey, conv: Conversation, event_type: str, to: str, **fields: Any
    ) -> list[Delivery]:
        """An e-mail delivery from the site's sender (none without SMTP); its payload (addresses,
        text) encrypted under the conversation's key."""
        if self._mail is None:
            return []
        body = {"to": to, "sender": self._mail.sender_for(conv.site_id), "conversation_id": conv.id, **fields}
        now = self._clock()
        delivery_id = new_delivery_id()
        return [
            Delivery(
                id=delivery_id,
                endpoint_id=MAIL_ENDPOINT,
                event_type=event_type,
                created_at=now,
                payload=key.encrypt(payload_aad(delivery_id), json.dumps(body)),
                conversation_id=conv.id,
                expires_at=self.expires_pending(now),
                next_attempt_at=now,
            )
        ]

    def conversation_assigned(self, key: DataKey, conv: Conversation) -> list[Delivery]:
        now = self._clock()
        data = {"conversation_id": conv.id, "agent_id": conv.assigned_agent_id, "assigned_at": iso(now)}
        return self._build(key, CONVERSATION_ASSIGNED, conv.id, now, data, {})

    def status_changed(self, key: DataKey, conv: Conversation) -> list[Delivery]:
        now = self._clock()
        data = {"conversation_id": conv.id, "status": conv.status, "changed_at": iso(now)}
        return self._build(key, STATUS_CHANGED, conv.id, now, data, {})

    def handed_over(self, key: DataKey, conv: Conversation, reason: str) -> list[Delivery]:
        """Defined for bots: the conversation left the bot for people (`reason`: request, misses, timeout, error)."""
        now = self._clock()
        data = {"conversation_id": conv.id, "status": conv.status, "reason": reason, "handed_over_at": iso(now)}
        return self._build(key, HANDED_OVER, conv.id, now, data, {})

    def for_bot(
        self, key: DataKey, endpoint_id: str, event_type: str, conversation_id: str, data: dict[str, Any]
    ) -> Delivery:
        """An event for a webhook bot's own endpoint (what it may receive is decided by the caller)."""
        now = self._clock()
        delivery_id = new_delivery_id()
        body = json.dumps({"type": event_type, "timestamp": iso(now), "data": data})
        return Delivery(
            id=delivery_id,
            endpoint_id=endpoint_id,
            event_type=event_type,
            created_at=now,
            payload=key.encrypt(payload_aad(delivery_id), body),
            conversation_id=conversation_id,
            expires_at=self.expires_pending(now),
            next_attempt_at=now,
        )

    def privacy_erased(self, conversation_ids: Sequence[str]) -> list[Delivery]:
        """Ids only, in clear: what was erased is gone, and receivers should erase their copies."""
        now = self._clock()
        data = {"conversation_ids": list(conversation_ids), "erased_at": iso(now)}
        return [self._plain(listener.endpoint_id, PRIVACY_ERASED, now, data) for listener in self._for(PRIVACY_ERASED)]

    def test_event(self, endpoint_id: str) -> Delivery:
        now = self._clock()
        return self._plain(endpoint_id, TEST_EVENT, now, {"endpoint_id": endpoint_id, "sent_at": iso(now)})

    # --- building -----------------------------------------------------------------------------

    def _for(self, event_type: str) -> list[Listener]:
        return [listener for listener in self._listeners if event_type in listener.events]

    def expires_pending(self, now: datetime) -> datetime:
        return now + WORST_CASE_SPAN + self._retention

    def _build(
        self,
        key: DataKey,
        event_type: str,
        conversation_id: str,
        at: datetime,
        data: dict[str, Any],
        personal: Mapping[str, str | None],
    ) -> list[Delivery]:
        deliveries = []
        now = self._clock()
        for listener in self._for(event_type):
            opted = {
                k: v
                for k, v in personal.items()
                if v is not None and any(_FIELD_KEYS[f] == k for f in listener.fields if f in _FIELD_KEYS)
            }
            delivery_id = new_delivery_id()
            body = json.dumps({"type": event_type, "timestamp": iso(at), "data": {**data, **opted}})
            deliveries.append(
                Delivery(
                    id=delivery_id,
                    endpoint_id=listener.endpoint_id,
                    event_type=event_type,
                    created_at=now,
                    payload=key.encrypt(payload_aad(delivery_id), body),
                    conversation_id=conversation_id,
                    expires_at=self.expires_pending(now),
                    next_attempt_at=now,
                )
            )
        return deliveries

    def _plain(self, endpoint_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> Delivery:
        now = self._clock()
        body = json.dumps({"type": event_type, "timestamp": iso(at), "data": data})
        return Delivery(
            id=new_delivery_id(),
            endpoint_id=endpoint_id,
            event_type=event_type,
            created_at=now,
            payload=body.encode(),
            conversation_id=None,
            expires_at=self.expires_pending(now),
            next_attempt_at=now,
        )
