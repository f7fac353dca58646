"""Request models of the REST API: each validates one body and is its schema in the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from chat_service.errors import ConfirmationRequired, InvalidInput
from chat_service.schemas.fields import (
    CannedText,
    ConversationId,
    DisplayName,
    Email,
    Instant,
    Password,
    SearchConversationId,
    SearchEmail,
    Shortcut,
    Title,
)
from chat_service.schemas.parse import Body
from chat_service.validation import SITE_ID

Role = Literal["agent", "admin"]
MAX_REQUEST_CONVERSATIONS = 200
MAX_BREACH_WINDOW = timedelta(days=366)
MAX_AUDIT_PAGE = 500


def _not_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError("chat_null", "Leave the field out instead of sending null.")
    return value


def _value_or_absent(schema: dict[str, Any]) -> None:
    """JSON Schema of a field that may be left out but is never null."""
    variants = [v for v in schema.pop("anyOf", []) if v.get("type") != "null"]
    if variants:
        schema.update(variants[0])
    schema.pop("default", None)


def _normalise_email(value: str) -> str:
    return value.strip().lower()


NotNull = BeforeValidator(_not_null)
OPTIONAL: Any = Field(default=None, json_schema_extra=_value_or_absent)


class LoginBody(Body):
    # Any text: an unknown address answers invalid_credentials like a wrong password does.
    email: Annotated[str, Field(min_length=1, max_length=320, pattern=r"\S"), AfterValidator(_normalise_email)]
    password: Password


class PasswordChangeBody(Body):
    current_password: Password
    new_password: str = Field(min_length=12, max_length=1024)


class NewUserBody(Body):
    email: Email
    role: Role
    display_name: DisplayName | None = None


class ChangesBody(Body):
    """A partial update (PATCH): at least one field; a field left out stays as it is."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data:
            raise PydanticCustomError("chat_nothing", "Nothing to change.")
        return data

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class UserChangesBody(ChangesBody):
    """At least one field; a field left out stays as it is."""

    role: Annotated[Role | None, NotNull] = OPTIONAL
    disabled: Annotated[bool | None, NotNull] = OPTIONAL
    display_name: DisplayName | None = None


class CannedBody(Body):
    shortcut: Shortcut
    title: Title
    text: CannedText


class SubjectQueryBody(Body):
    """Exactly one of `email` and `conversation_id`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["email"]}, {"required": ["conversation_id"]}]})

    email: Annotated[SearchEmail | None, NotNull] = OPTIONAL
    conversation_id: Annotated[SearchConversationId | None, NotNull] = OPTIONAL

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if len(self.model_fields_set) != 1:
            raise PydanticCustomError("chat_one_of", "Give either an e-mail address or a conversation id.")
        return self


ConversationIds = list[ConversationId]
_IDS = Field(min_length=1, max_length=MAX_REQUEST_CONVERSATIONS)


class ExportBody(Body):
    conversation_ids: ConversationIds = _IDS

    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.conversation_ids))


class EraseBody(Body):
    """Erasure cannot be undone: the caller must send `"confirm": "ERASE"` beside the ids."""

    error_codes: ClassVar[dict[str, type[InvalidInput]]] = {"confirm": ConfirmationRequired}

    conversation_ids: ConversationIds = _IDS
    confirm: Literal["ERASE"]

    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.conversation_ids))


class BreachWindowBody(Body):
    """`to` after `from`, at most 366 days apart (JSON Schema cannot compare two fields: see description)."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": f"'to' must be after 'from' and at most {MAX_BREACH_WINDOW.days} days later "
            "(otherwise 400 invalid_input)."
        }
    )

    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.end <= self.start:
            raise PydanticCustomError("chat_window", "'to' must be after 'from'.", {"field": "to"})
        if self.end - self.start > MAX_BREACH_WINDOW:
            raise PydanticCustomError(
                "chat_window",
                f"The window may span at most {MAX_BREACH_WINDOW.days} days; ask for several reports.",
                {"field": "to", "max_days": MAX_BREACH_WINDOW.days},
            )
        return self


class AuditQuery(Body):
    """Query string of `GET /api/audit` (query values arrive as text, so not strict)."""

    model_config = ConfigDict(strict=False, extra="ignore")

    limit: int = Field(default=100, ge=1, le=MAX_AUDIT_PAGE)
    before: int | None = Field(default=None, ge=0, le=2**63 - 1)  # a BSON int64


class WidgetAvailabilityQuery(Body):
    """Query string of `GET /api/widget/availability` (documented here; the widget routes read it)."""

    model_config = ConfigDict(strict=False, extra="ignore")

    site: str = Field(min_length=1, max_length=64, pattern=SITE_ID.pattern)
    lang: str | None = Field(default=None, max_length=35)


class SecondFactorCodeBody(Body):
    """A TOTP code (6 digits) or a recovery code such as `a1b2c-3d4e5`."""

    code: Annotated[
        str,
        Field(
            min_length=6,
            max_length=20,
            pattern=r"^\s*[A-Za-z0-9-]{6,20}\s*$",
            description="6 digits or a recovery code",
        ),
        AfterValidator(str.strip),
    ]


class PasswordBody(Body):
    """Re-authentication before a sensitive change."""

    password: Password


WebhookEvent = Literal[
    "conversation.created",
    "message.created",
    "conversation.assigned",
    "conversation.status_changed",
    "conversation.handed_over",
    "privacy.erased",
]
WebhookField = Literal["message.text", "visitor.name", "visitor.email", "visitor.page_url", "visitor.language"]
WebhookUrl = Annotated[
    str, Field(min_length=1, max_length=2000, description="https outside dev mode; no private addresses")
]
WebhookRegion = Annotated[
    str, Field(min_length=1, max_length=64, description="where the receiver is hosted (EU/EEA list)")
]


class WebhookEndpointBody(Body):
    """A new endpoint: where, in which region, which events, and which personal fields (opt-in)."""

    url: WebhookUrl
    region: WebhookRegion
    events: list[WebhookEvent] = Field(min_length=1, max_length=6)
    fields: list[WebhookField] = Field(default_factory=list, max_length=5)
    description: Annotated[str | None, NotNull] = Field(
        default=None, max_length=200, json_schema_extra=_value_or_absent
    )
    enabled: Annotated[bool | None, NotNull] = OPTIONAL

    def as_input(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class WebhookChangesBody(ChangesBody):
    """At least one field; a field left out stays as it is."""

    url: Annotated[WebhookUrl | None, NotNull] = OPTIONAL
    region: Annotated[WebhookRegion | None, NotNull] = OPTIONAL
    events: Annotated[list[WebhookEvent] | None, NotNull] = Field(
        default=None, min_length=1, max_length=6, json_schema_extra=_value_or_absent
    )
    fields: Annotated[list[WebhookField] | None, NotNull] = Field(
        default=None, max_length=5, json_schema_extra=_value_or_absent
    )
    description: Annotated[str | None, NotNull] = Field(
        default=None, max_length=200, json_schema_extra=_value_or_absent
    )
    enabled: Annotated[bool | None, NotNull] = OPTIONAL

    def as_input(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
