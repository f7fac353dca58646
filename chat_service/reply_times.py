"""The widget's "usually replies within …": a coarse bucket of the median first-response time of a
site's recent conversations, computed from timestamps only and kept in memory for a few minutes."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web

from chat_service.storage.widget import WidgetStore

Bucket = Literal["minutes", "hour", "hours", "day"]
# Upper bound (seconds) of each bucket; slower than a day promises nothing.
BUCKETS: tuple[tuple[float, Bucket], ...] = ((5 * 60, "minutes"), (3600, "hour"), (6 * 3600, "hours"), (86400, "day"))
WINDOW = timedelta(days=14)
SAMPLE = 50  # the most recently active conversations looked at
MIN_SAMPLES = 3  # fewer answered conversations say nothing reliable
CACHE_FOR = timedelta(minutes=5)


def bucket(seconds: list[float]) -> Bucket | None:
    """The bucket of the median first response, or None when there is too little to go on."""
    if len(seconds) < MIN_SAMPLES:
        return None
    median = statistics.median(seconds)
    return next((name for limit, name in BUCKETS if median <= limit), None)


@dataclass
class _Cached:
    value: Bucket | None
    until: datetime


class ReplyTimes:
    """Per-site buckets, each computed at most once per `CACHE_FOR` on this node."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    async def for_site(self, store: WidgetStore, site_id: str) -> Bucket | None:
        now = self._clock()
        cached = self._cache.get(site_id)
        if cached is not None and cached.until > now:
            return cached.value
        value = bucket(await store.first_response_seconds(site_id, now - WINDOW, SAMPLE))
        self._cache[site_id] = _Cached(value, now + CACHE_FOR)
        return value


REPLY_TIMES = web.AppKey("reply_times", ReplyTimes)
