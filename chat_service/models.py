"""Plain records passed between the domain and storage. No database types leak past storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# "bot": a bot answers; "open" without an assignee is the waiting state (see docs/protocol.md, Bots).
ConversationStatus = Literal["bot", "open", "closed"]
Sender = Literal["visitor", "agent", "bot"]
Role = Literal["agent", "admin"]
AgentStatus = Literal["online", "away", "offline"]

# Visitor fields we may store; each is encrypted under the conversation's data key.
VISITOR_FIELDS = ("name", "email", "ip", "user_agent", "page_url", "language")


@dataclass
class Conversation:
    id: str
    status: ConversationStatus
    created_at: datetime
    last_activity_at: datetime
    resume_token_hash: str
    resume_expires_at: datetime
    message_count: int = 0
    assigned_agent_id: str | None = None
    closed_at: datetime | None = None
    offline: bool = False
    notice_version: str | None = None
    site_id: str | None = None
    last_message_id: str | None = None
    # SHA-256 of the first message's client id: a resend after a lost ack finds this conversation.
    first_client_hash: str | None = None
    # field name -> ciphertext (see VISITOR_FIELDS)
    visitor: dict[str, bytes] = field(default_factory=dict)
    # keyed HMAC of the normalised e-mail (blind index), to find a person's conversations
    email_index: str | None = None
    # set by the retention job when the visitor's identifiers were replaced (see retention/)
    pseudonym: str | None = None
    pseudonymised_by: str | None = None  # "<policy name>@<version>"
    pseudonymised_at: datetime | None = None
    # Why the bot handed this conversation to people ("request", "misses", ...); None before.
    handover_reason: str | None = None
    handed_over_at: datetime | None = None
    # Built-in bot: unanswered turns in a row (hand-over after the site's `max_misses`).
    bot_misses: int = 0
    # When an agent first answered (set by the write pipeline's bookkeeping): reports only.
    first_response_at: datetime | None = None
    # Times it was closed; the first close is the one reports count.
    close_count: int = 0
    # The visitor's rating after the close (1-5) and optional comment (ciphertext, conversation key).
    csat_rating: int | None = None
    csat_comment: bytes | None = None
    # Short tags agents put on it (validated in `chat_service.labels`); plain, for filtering.
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AttachmentRef:
    """The file a message carries (see storage/attachments.py). Its id, content type and size are
    kept in clear to serve it; its name is personal data: ciphertext under the conversation's key,
    empty once pseudonymisation removed the file (`removed`)."""

    id: str
    type: str
    size: int
    name: bytes
    removed: bool = False


@dataclass
class Message:
    id: str
    conversation_id: str
    sender: Sender
    client_id: str
    created_at: datetime
    text: bytes
    text_length: int
    agent_id: str | None = None
    # Bot messages only: which bot wrote it ({"name", "version"}, in clear: no personal data) and
    # its quick-reply buttons (JSON, encrypted like the text: a bot may echo what the visitor wrote).
    bot: dict[str, str] | None = None
    buttons: bytes | None = None
    attachment: AttachmentRef | None = None


@dataclass
class Note:
    """An agent's internal note on a conversation: never shown to the visitor or sent out."""

    id: str
    conversation_id: str
    author_id: str
    created_at: datetime
    text: bytes  # encrypted under the conversation's data key


@dataclass
class User:
    id: str
    email: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False
    display_name: str | None = None
    must_change_password: bool = False
    totp_enabled: bool = False


@dataclass
class Session:
    id_hash: str
    user_id: str
    created_at: datetime
    last_seen_at: datetime
    csrf_hash: str = ""
    # Shown in the sessions list, so one session can be signed out without revealing its secret.
    public_id: str = ""
    expires_at: datetime | None = None
    # Coarse browser family and OS ("Firefox on Linux"); never the address or the full string.
    client: str = ""
    # Password checked, second factor still owed: authenticates nothing yet.
    pending_second_factor: bool = False


@dataclass(frozen=True)
class Team:
    """Agents in a team see the conversations of the team's sites (admins see every site)."""

    id: str
    name: str
    agent_ids: tuple[str, ...]
    site_ids: tuple[str, ...]
    updated_at: datetime


@dataclass
class CannedResponse:
    id: str
    shortcut: str
    title: str
    text: str
    updated_at: datetime


@dataclass
class AuditEvent:
    seq: int
    at: datetime
    actor_id: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, str | int | bool | None]
    prev_mac: str
    mac: str
