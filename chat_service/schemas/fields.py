"""Constrained field types shared by the request models; constraints show in the JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from chat_service.validation import CONVERSATION_ID, EMAIL, MAX_NAME, MAX_PASSWORD, SHORTCUT, USER_ID

# At least one character that is neither white space nor NUL, and no NUL anywhere: what the
# server keeps after trimming is then never empty. Python's `\s` matches what `str.strip` removes.
NOT_BLANK = r"\S"
TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"


def _anchored(pattern: str) -> str:
    return pattern if pattern.startswith("^") else f"^{pattern}$"


Email = Annotated[
    str,
    Field(max_length=320, pattern=EMAIL.pattern, description="an e-mail address, e.g. anna@example.eu"),
    AfterValidator(str.lower),
]
# What an admin pastes into a search: surrounding white space is forgiven.
SearchEmail = Annotated[
    str,
    Field(max_length=320, pattern=r"^\s*" + EMAIL.pattern.strip("^$") + r"\s*$", description="an e-mail address"),
    AfterValidator(lambda value: value.strip().lower()),
]
SearchConversationId = Annotated[
    str,
    Field(pattern=r"^\s*" + CONVERSATION_ID.pattern.strip("^$") + r"\s*$", description="c + 24 hex digits"),
    AfterValidator(str.strip),
]
ConversationId = Annotated[str, Field(pattern=_anchored(CONVERSATION_ID.pattern), description="c + 24 hex digits")]
UserId = Annotated[str, Field(pattern=_anchored(USER_ID.pattern), description="u + 24 hex digits")]
Shortcut = Annotated[
    str,
    Field(
        max_length=32,
        pattern=SHORTCUT.pattern,
        description=(
            "1 to 32 lower-case letters, digits, '_' or '-' (a-z, 0-9, _, -), starting with a letter or digit "
            "(e.g. 'ship-times')"
        ),
    ),
]
DisplayName = Annotated[str, Field(max_length=MAX_NAME)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD)]
Title = Annotated[str, Field(min_length=1, max_length=100, pattern=NOT_BLANK), AfterValidator(str.strip)]


def _message_text_check(max_len: int) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
        name = info.field_name or "text"
        if "\x00" in value:
            raise PydanticCustomError("chat_nul", f"'{name}' contains a NUL character.")
        text = value.strip()
        if not text:
            raise PydanticCustomError("chat_blank", f"'{name}' must not be empty.")
        if len(text) > max_len:
            raise PydanticCustomError(
                "text_too_long", f"The message is longer than {max_len} characters.", {"max": max_len}
            )
        return text

    return check


def _message_text_schema(max_len: int) -> dict[str, Any]:
    # At least as strict as the check: the trimmed length is never above the raw length.
    return {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": TEXT}


CannedText = Annotated[str, AfterValidator(_message_text_check(4000)), WithJsonSchema(_message_text_schema(4000))]


def _instant(value: object) -> object:
    if not isinstance(value, str):
        return value  # strict validation answers "must be a string"-like errors
    if len(value) > 40:
        raise PydanticCustomError("chat_instant", "An instant is at most 40 characters.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise PydanticCustomError(
            "chat_instant", "Not an ISO 8601 date and time (e.g. 2026-11-25T10:00:00Z)."
        ) from None
    if parsed.tzinfo is None:
        raise PydanticCustomError("chat_instant", "A date and time needs a time zone (e.g. Z or +01:00).")
    return parsed.astimezone(UTC)


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "maxLength": 40, "description": "ISO 8601 with a time zone"}
    ),
]
