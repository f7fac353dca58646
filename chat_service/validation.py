"""Strict parsing of Socket.IO event payloads, and the identifier formats every layer shares.

Each parser takes whatever arrived and returns a typed, frozen value or raises `InvalidInput`
naming the offending field. Unknown fields are rejected, so a typo never silently drops data.
HTTP bodies are pydantic models in `chat_service.schemas` (they also make the OpenAPI document).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from chat_service.errors import InvalidInput, TextTooLong
from chat_service.models import AgentStatus

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CONVERSATION_ID = re.compile(r"^c[0-9a-f]{24}$")
USER_ID = re.compile(r"^u[0-9a-f]{24}$")
EMAIL = re.compile(r"^[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,255}\.[^@\s\x00-\x1f]{2,63}$")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,2}$")
NOTICE_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
SITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_NAME = 200
MAX_URL = 2048
MAX_PASSWORD = 1024


def _mapping(payload: object, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise InvalidInput("Expected an object.")
    unknown = sorted(str(k) for k in payload if k not in allowed)
    if unknown:
        raise InvalidInput(f"Unknown field(s): {', '.join(unknown)[:200]}.", details={"fields": unknown[:20]})
    missing = sorted(required - set(payload))
    if missing:
        raise InvalidInput(f"Missing field(s): {', '.join(missing)}.", details={"fields": missing})
    return payload


def _string(payload: Mapping[str, Any], name: str, *, max_len: int, pattern: re.Pattern[str] | None = None) -> str:
    value = payload[name]
    if not isinstance(value, str):
        raise InvalidInput(f"'{name}' must be a string.", details={"field": name})
    if len(value) > max_len:
        raise InvalidInput(f"'{name}' is longer than {max_len} characters.", details={"field": name})
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput(f"'{name}' is not in the expected format.", details={"field": name})
    return value


def _optional(payload: Mapping[str, Any], name: str, **kw: Any) -> str | None:
    if payload.get(name) is None:
        return None
    return _string(payload, name, **kw)


def _bool(payload: Mapping[str, Any], name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"'{name}' must be true or false.", details={"field": name})
    return value


def message_text(payload: Mapping[str, Any], max_len: int) -> str:
    value = payload["text"]
    if not isinstance(value, str):
        raise InvalidInput("'text' must be a string.", details={"field": "text"})
    text = value.strip()
    if not text:
        raise InvalidInput("'text' must not be empty.", details={"field": "text"})
    if len(text) > max_len:
        raise TextTooLong(f"The message is longer than {max_len} characters.", details={"max": max_len})
    if "\x00" in text:
        raise InvalidInput("'text' contains a NUL character.", details={"field": "text"})
    return text


@dataclass(frozen=True)
class VisitorProfile:
    name: str | None = None
    email: str | None = None
    page_url: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class VisitorMessageIn:
    client_id: str
    text: str
    profile: VisitorProfile
    offline: bool = False
    notice_version: str | None = None
    site_id: str | None = None


def _url(payload: Mapping[str, Any], name: str) -> str | None:
    value = _optional(payload, name, max_len=MAX_URL)
    if value is not None and not re.fullmatch(r"https?://\S+", value):
        raise InvalidInput(f"'{name}' must be an http(s) URL.", details={"field": name})
    return value


def parse_profile(payload: object) -> VisitorProfile:
    data = _mapping(payload, {"name", "email", "page_url", "language"}, set())
    name = _optional(data, "name", max_len=MAX_NAME)
    email = _optional(data, "email", max_len=320, pattern=EMAIL)
    return VisitorProfile(
        name=name.strip() or None if name else None,
        email=email.strip().lower() if email else None,
        page_url=_url(data, "page_url"),
        language=_optional(data, "language", max_len=35, pattern=LANGUAGE),
    )


def parse_visitor_message(payload: object, max_len: int) -> VisitorMessageIn:
    data = _mapping(
        payload, {"client_id", "text", "profile", "offline", "notice_version", "site_id"}, {"client_id", "text"}
    )
    profile = parse_profile(data["profile"]) if data.get("profile") is not None else VisitorProfile()
    offline = _bool(data, "offline", False)
    if offline and profile.email is None:
        raise InvalidInput("An offline message needs an e-mail address.", details={"field": "profile.email"})
    return VisitorMessageIn(
        client_id=_string(data, "client_id", max_len=64, pattern=CLIENT_ID),
        text=message_text(data, max_len),
        profile=profile,
        offline=offline,
        notice_version=_optional(data, "notice_version", max_len=32, pattern=NOTICE_VERSION),
        site_id=_optional(data, "site_id", max_len=64, pattern=SITE_ID),
    )


def parse_resume(payload: object) -> str:
    data = _mapping(payload, {"token"}, {"token"})
    return _string(data, "token", max_len=200)


def parse_typing(payload: object, *, with_conversation: bool) -> tuple[str | None, bool]:
    keys = {"typing", "conversation_id"} if with_conversation else {"typing"}
    data = _mapping(payload, keys, keys)
    typing = _bool(data, "typing", False)
    conv = _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID) if with_conversation else None
    return conv, typing


def parse_conversation_ref(payload: object) -> str:
    data = _mapping(payload, {"conversation_id"}, {"conversation_id"})
    return _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID)


@dataclass(frozen=True)
class AgentReplyIn:
    conversation_id: str
    client_id: str
    text: str


def parse_agent_reply(payload: object, max_len: int) -> AgentReplyIn:
    data = _mapping(payload, {"conversation_id", "client_id", "text"}, {"conversation_id", "client_id", "text"})
    return AgentReplyIn(
        conversation_id=_string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID),
        client_id=_string(data, "client_id", max_len=64, pattern=CLIENT_ID),
        text=message_text(data, max_len),
    )


INBOX_VIEWS = ("waiting", "mine", "open", "closed", "bot")


def parse_list(payload: object) -> tuple[str, int]:
    data = _mapping(payload if payload is not None else {}, {"status", "limit"}, set())
    status = data.get("status", "open")
    if status not in INBOX_VIEWS:
        raise InvalidInput("'status' must be waiting, mine, open, closed or bot.", details={"field": "status"})
    limit = data.get("limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 500:
        raise InvalidInput("'limit' must be a whole number from 1 to 500.", details={"field": "limit"})
    return status, limit


SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def parse_claim(payload: object) -> tuple[str, str | None]:
    data = _mapping(payload, {"conversation_id", "agent_id"}, {"conversation_id"})
    agent_id = _optional(data, "agent_id", max_len=25, pattern=USER_ID)
    return _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID), agent_id


def parse_read(payload: object) -> tuple[str, int]:
    data = _mapping(payload, {"conversation_id", "seen"}, {"conversation_id", "seen"})
    seen = data["seen"]
    if not isinstance(seen, int) or isinstance(seen, bool) or not 0 <= seen <= 10_000_000:
        raise InvalidInput("'seen' must be a whole number.", details={"field": "seen"})
    return _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID), seen


@dataclass(frozen=True)
class TranscriptIn:
    email: str
    language: str | None  # None: the conversation's own language


def parse_transcript(payload: object) -> TranscriptIn:
    """A visitor's request for a transcript: the address to send it to, and the language of the mail."""
    data = _mapping(payload, {"email", "language"}, {"email"})
    email = _string(data, "email", max_len=320, pattern=EMAIL).strip().lower()
    return TranscriptIn(email, _optional(data, "language", max_len=35, pattern=LANGUAGE))


MAX_CSAT_COMMENT = 1000


def parse_rate(payload: object) -> tuple[int, str | None]:
    """The visitor's rating: `{rating: 1-5, comment?}`; a blank comment counts as none."""
    data = _mapping(payload, {"rating", "comment"}, {"rating"})
    rating = data["rating"]
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidInput("'rating' must be a whole number from 1 to 5.", details={"field": "rating"})
    comment = _optional(data, "comment", max_len=MAX_CSAT_COMMENT)
    if comment is not None and "\x00" in comment:
        raise InvalidInput("'comment' contains a NUL character.", details={"field": "comment"})
    return rating, (comment.strip() or None) if comment else None


def parse_note(payload: object, max_len: int) -> tuple[str, str]:
    """An internal note: the conversation and the text (same rules as a reply's text)."""
    data = _mapping(payload, {"conversation_id", "text"}, {"conversation_id", "text"})
    return _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID), message_text(data, max_len)


# A label: letters (any script), digits, spaces, _ and -, starting with a letter or digit.
LABEL = re.compile(r"^[^\W_][\w -]{0,31}$")
MAX_LABEL = 32
MAX_LABELS = 10


def parse_labels(payload: object) -> tuple[str, list[str]]:
    """The whole set of a conversation's labels: each normalised (trimmed, single spaces, lower
    case), duplicates dropped, at most MAX_LABELS of at most MAX_LABEL characters."""
    data = _mapping(payload, {"conversation_id", "labels"}, {"conversation_id", "labels"})
    conversation_id = _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID)
    raw = data["labels"]
    if not isinstance(raw, list) or len(raw) > MAX_LABELS:
        raise InvalidInput(f"'labels' must be a list of at most {MAX_LABELS} labels.", details={"field": "labels"})
    labels: list[str] = []
    for item in raw:
        if not isinstance(item, str) or len(item) > MAX_LABEL * 2:
            raise InvalidInput("Each label must be a short string.", details={"field": "labels"})
        label = " ".join(item.split()).lower()
        if not LABEL.fullmatch(label):
            raise InvalidInput(
                f"A label is 1 to {MAX_LABEL} letters, digits, spaces, _ or -, starting with a letter or digit.",
                details={"field": "labels"},
            )
        if label not in labels:
            labels.append(label)
    return conversation_id, labels


def parse_viewing(payload: object) -> tuple[str | None, bool]:
    """Which conversation this console shows now (None: none), and whether it answers a colleague's
    "who is here?" (so it is not asked back)."""
    data = _mapping(payload, {"conversation_id", "answer"}, {"conversation_id"})
    conversation_id = _optional(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID)
    return conversation_id, _bool(data, "answer", False)


def parse_agent_status(payload: object) -> AgentStatus:
    data = _mapping(payload, {"status"}, {"status"})
    status = data["status"]
    if status in ("online", "away", "offline"):
        return cast(AgentStatus, status)
    raise InvalidInput("'status' must be online, away or offline.", details={"field": "status"})


def parse_agent_typing(payload: object) -> tuple[str, bool, bool]:
    """An agent's typing state: the conversation, typing or not, and whether it is a note."""
    data = _mapping(payload, {"conversation_id", "typing", "note"}, {"conversation_id", "typing"})
    conversation_id = _string(data, "conversation_id", max_len=25, pattern=CONVERSATION_ID)
    return conversation_id, _bool(data, "typing", False), _bool(data, "note", False)
