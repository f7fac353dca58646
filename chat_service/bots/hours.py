"""Office hours: a weekly schedule in the site's time zone (zoneinfo), with holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from chat_service.schemas.bots import DAYS, OfficeHoursBody


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    return time.max if hours == 24 else time(hours, minutes)


@dataclass(frozen=True)
class OfficeHours:
    zone: ZoneInfo
    weekly: tuple[tuple[tuple[time, time], ...], ...]  # Monday first
    holidays: frozenset[date]

    @classmethod
    def from_body(cls, body: OfficeHoursBody) -> OfficeHours:
        spans = tuple(
            tuple((_clock(s.split("-")[0]), _clock(s.split("-")[1])) for s in getattr(body.weekly, day)) for day in DAYS
        )
        return cls(ZoneInfo(body.timezone), spans, frozenset(date.fromisoformat(d) for d in body.holidays))

    def is_open(self, at: datetime) -> bool:
        """Open at the instant `at` (aware), judged by the wall clock in the site's zone.

        Converting the instant, not adding offsets, keeps a DST change right: 09:00 is 09:00 local
        the day after the clocks move.
        """
        local = at.astimezone(self.zone)
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.weekly[local.weekday()])
