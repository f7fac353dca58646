"""When to try a delivery again: the Standard Webhooks schedule, with jitter, and `Retry-After`."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# Delay before attempt n+1 after attempt n failed (attempt 1 is immediate). Ten attempts in all,
# the last about three and a half days after the first.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.1  # each delay is stretched or shrunk by up to 10%, so retries of a burst spread out
# A receiver may ask for a longer pause, not for an endless one.
MAX_RETRY_AFTER = timedelta(hours=24)
# When the last attempt could be, from the first: bounds how long a pending entry is kept.
WORST_CASE_SPAN = sum(RETRY_DELAYS, timedelta()) * (1 + JITTER) + MAX_RETRY_AFTER * MAX_ATTEMPTS


def next_delay(
    attempts: int, retry_after: timedelta | None = None, rand: Callable[[], float] = random.random
) -> timedelta | None:
    """The wait after `attempts` failed attempts, or None when the schedule is exhausted."""
    if attempts >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempts - 1]
    delay = base * (1 + JITTER * (2 * rand() - 1))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as delta-seconds or an HTTP date; anything else is ignored (None)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and len(text) <= 9:
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(), when - now)
