"""Request models of the team, search and report routes."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal, Self

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from chat_service.schemas.fields import TEXT, Instant, SearchConversationId, SearchEmail, UserId
from chat_service.schemas.http import OPTIONAL, ChangesBody, NotNull, _value_or_absent
from chat_service.schemas.parse import Body
from chat_service.validation import SITE_ID

MAX_TEAM_MEMBERS = 500
MAX_TEAM_SITES = 200
MAX_REPORT_DAYS = 366
SiteId = Annotated[str, Field(min_length=1, max_length=64, pattern=SITE_ID.pattern, description="a site id")]
TeamName = Annotated[str, Field(min_length=1, max_length=80, pattern=TEXT)]
# A label as the console helper stores them: short text, no control characters.
Label = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f]+$")]
SearchStatus = Literal["bot", "waiting", "open", "closed"]


class TeamBody(Body):
    name: TeamName
    agent_ids: list[UserId] = Field(default_factory=list, max_length=MAX_TEAM_MEMBERS)
    site_ids: list[SiteId] = Field(default_factory=list, max_length=MAX_TEAM_SITES)


class TeamChangesBody(ChangesBody):
    """At least one field; a field left out stays as it is."""

    name: Annotated[TeamName | None, NotNull] = OPTIONAL
    agent_ids: Annotated[list[UserId] | None, NotNull] = Field(
        default=None, max_length=MAX_TEAM_MEMBERS, json_schema_extra=_value_or_absent
    )
    site_ids: Annotated[list[SiteId] | None, NotNull] = Field(
        default=None, max_length=MAX_TEAM_SITES, json_schema_extra=_value_or_absent
    )


class SearchBody(Body):
    """Every filter is optional and they combine (AND). `text` is matched in the decrypted messages
    of the newest candidate conversations the other filters leave (see docs/privacy.md)."""

    model_config = ConfigDict(
        json_schema_extra={"description": "'to' must be after 'from' (otherwise 400 invalid_input)."}
    )

    email: Annotated[SearchEmail | None, NotNull] = OPTIONAL
    conversation_id: Annotated[SearchConversationId | None, NotNull] = OPTIONAL
    status: Annotated[SearchStatus | None, NotNull] = OPTIONAL
    labels: list[Label] = Field(default_factory=list, max_length=10)
    site_ids: list[SiteId] = Field(default_factory=list, max_length=50)
    agent_id: Annotated[UserId | None, NotNull] = OPTIONAL
    start: Annotated[Instant | None, NotNull] = Field(default=None, alias="from", json_schema_extra=_value_or_absent)
    end: Annotated[Instant | None, NotNull] = Field(default=None, alias="to", json_schema_extra=_value_or_absent)
    text: Annotated[str | None, NotNull] = Field(
        default=None,
        min_length=2,
        max_length=200,
        pattern=TEXT,
        json_schema_extra=_value_or_absent,
    )
    limit: int = Field(default=50, ge=1, le=100)

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise PydanticCustomError("chat_window", "'to' must be after 'from'.", {"field": "to"})
        return self


def _iso_day(value: object) -> object:
    """Only `YYYY-MM-DD`: lax date parsing would also take a number as a timestamp."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("chat_date", "A day like 2026-11-25 (YYYY-MM-DD).")
    return value


Day = Annotated[
    date,
    BeforeValidator(_iso_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}),
]


class ReportQuery(Body):
    """Query string of the report routes: a day range (inclusive) in the caller's UTC offset."""

    model_config = ConfigDict(strict=False, extra="ignore")

    start: Day = Field(alias="from", description="first day, YYYY-MM-DD")
    end: Day = Field(alias="to", description="last day, YYYY-MM-DD (at most 366 days after from)")
    tz_offset: int = Field(default=0, ge=-840, le=840, description="minutes east of UTC (whole hours used)")
    site: str | None = Field(default=None, max_length=64, pattern=SITE_ID.pattern)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.end < self.start:
            raise PydanticCustomError("chat_window", "'to' must not be before 'from'.", {"field": "to"})
        if self.end - self.start > timedelta(days=MAX_REPORT_DAYS):
            raise PydanticCustomError("chat_window", f"A report spans at most {MAX_REPORT_DAYS} days.", {"field": "to"})
        return self
