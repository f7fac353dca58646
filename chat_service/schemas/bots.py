"""Bot configuration (sites file `[sites.<id>.bot]` and the admin API), bot-hook bodies and what
external bots answer. One set of models: the sites file, the admin API and the OpenAPI document agree."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from chat_service.schemas.parse import Body

MAX_BUTTONS = 10
MAX_BUTTON_TITLE = 80
MAX_BUTTON_PAYLOAD = 500
MAX_FAQ = 200
MAX_BOT_TEXT = 2000
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SHARE_FIELDS = ("name", "email", "language", "page_url", "user_agent", "ip")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _text(max_len: int) -> Any:
    return Field(min_length=1, max_length=max_len, pattern=r"\S")


BotText = Annotated[str, _text(MAX_BOT_TEXT), AfterValidator(str.strip)]


class Localised(Body):
    """A text in English and Dutch; one given is used for both."""

    en: BotText | None = None
    nl: BotText | None = None

    @model_validator(mode="after")
    def _one_at_least(self) -> Self:
        if self.en is None and self.nl is None:
            raise PydanticCustomError("chat_localised", "give the text in `en` and/or `nl`")
        return self

    def get(self, language: str) -> str:
        return (self.nl or self.en or "") if language == "nl" else (self.en or self.nl or "")


def _span(value: str) -> str:
    match = _SPAN.fullmatch(value)
    if match is None:
        raise PydanticCustomError("chat_span", "a time span like 09:00-17:00")
    start, end = value.split("-")
    if end <= start or (end.startswith("24") and end != "24:00"):
        raise PydanticCustomError("chat_span", "a time span like 09:00-17:00 that ends after it starts")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError("chat_timezone", "an IANA time zone like Europe/Amsterdam") from None
    return value


def _day(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("chat_date", "a date like 2026-12-25") from None
    return value


Span = Annotated[str, Field(max_length=11), AfterValidator(_span)]


class WeeklyHours(Body):
    mon: list[Span] = Field(default_factory=list, max_length=8)
    tue: list[Span] = Field(default_factory=list, max_length=8)
    wed: list[Span] = Field(default_factory=list, max_length=8)
    thu: list[Span] = Field(default_factory=list, max_length=8)
    fri: list[Span] = Field(default_factory=list, max_length=8)
    sat: list[Span] = Field(default_factory=list, max_length=8)
    sun: list[Span] = Field(default_factory=list, max_length=8)


class OfficeHoursBody(Body):
    timezone: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_timezone)]
    weekly: WeeklyHours = Field(default_factory=WeeklyHours)
    holidays: list[Annotated[str, Field(max_length=10), AfterValidator(_day)]] = Field(
        default_factory=list, max_length=366
    )
    offline_reply: Localised | None = None


class FaqEntryBody(Body):
    question: Localised
    answer: Localised


class BotConfigBody(Body):
    """A site's bot: built-in (greeting, hours, FAQ) or external (Rasa REST, webhook)."""

    type: Literal["builtin", "rasa", "webhook"] = "builtin"
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"\S"), AfterValidator(str.strip)]
    version: str = Field(default="1", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")
    greeting: Localised | None = None
    hours: OfficeHoursBody | None = None
    faq: list[FaqEntryBody] = Field(default_factory=list, max_length=MAX_FAQ)
    max_misses: int = Field(default=2, ge=1, le=10)
    answer_threshold: float = Field(default=0.5, ge=0, le=1)
    suggest_threshold: float = Field(default=0.2, ge=0, le=1)
    # External bots only.
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    region: str | None = Field(default=None, min_length=1, max_length=64)
    redact: bool = True
    share: list[Literal["name", "email", "language", "page_url", "user_agent", "ip"]] = Field(
        default_factory=list, max_length=6
    )

    @model_validator(mode="after")
    def _external_needs_a_target(self) -> Self:
        if self.type != "builtin" and (self.url is None or self.region is None):
            raise PydanticCustomError("chat_bot_target", "an external bot needs `url` and `region`")
        if self.suggest_threshold > self.answer_threshold:
            raise PydanticCustomError("chat_thresholds", "`suggest_threshold` may not exceed `answer_threshold`")
        return self


class BotTestBody(Body):
    text: str = Field(min_length=1, max_length=MAX_BOT_TEXT, pattern=r"\S")
    language: Literal["en", "nl"] = "en"


class Button(Body):
    title: str = Field(min_length=1, max_length=MAX_BUTTON_TITLE, pattern=r"\S")
    payload: str = Field(min_length=1, max_length=MAX_BUTTON_PAYLOAD, pattern=r"\S")


Sender = Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[0-9a-f]+$")]


class BotHookMessageBody(Body):
    """A webhook bot's reply to the conversation it knows as `sender`."""

    sender: Sender
    text: str = Field(min_length=1, max_length=MAX_BOT_TEXT, pattern=r"\S")
    buttons: list[Button] = Field(default_factory=list, max_length=MAX_BUTTONS)


class BotHookHandoverBody(Body):
    sender: Sender


class RasaButton(BaseModel):
    """Lenient on extra keys (Rasa adds some), strict on what we render."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str = Field(min_length=1, max_length=MAX_BUTTON_TITLE)
    payload: str = Field(min_length=1, max_length=MAX_BUTTON_PAYLOAD)


class RasaItem(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    recipient_id: str | None = None
    text: str | None = Field(default=None, max_length=MAX_BOT_TEXT)
    buttons: list[RasaButton] = Field(default_factory=list, max_length=MAX_BUTTONS)
    image: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    custom: dict[str, Any] | None = None


class RasaAnswer(BaseModel):
    items: list[RasaItem] = Field(max_length=20)


def bot_config_problems(data: object) -> tuple[BotConfigBody | None, list[str]]:
    """A bot table from the sites file, or the problems with it, each naming its key."""
    try:
        return BotConfigBody.model_validate(data), []
    except ValidationError as exc:
        return None, [
            f"{'.'.join(str(p) for p in e['loc']) or '(table)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        ]
