"""Abuse limits for the public visitor endpoint: generous for people, fatal for scripts.

- messages per connection per minute and typing events per connection per second: in memory, as a
  connection lives on one node;
- concurrent connections per address: per node (behind N nodes an address may hold N times as many);
- new conversations per address per hour: shared by every node, in Redis when configured, else in
  MongoDB (a counter per window with a TTL index).

Addresses are never kept in clear: limits are keyed by an HMAC of the address (the HMAC key lives
outside the database). Sliding windows are a few lines each; the `limits` library was not used
because its async MongoDB backend needs the deprecated `motor` driver and a client of its own.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from aiohttp import web

from chat_service.crypto import HmacKeys
from chat_service.errors import RateLimited, StorageUnavailable
from chat_service.services import SERVICES, SETTINGS
from chat_service.storage import Database

# A refused connection may try again this much later (a tab closing frees its slot at once).
CONNECTION_RETRY_S = 10
CONVERSATION_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class LimitSettings:
    messages_per_minute: int
    typing_per_second: int
    connections_per_address: int
    conversations_per_hour: int
    transcripts_per_hour: int = 3
    uploads_per_hour: int = 30


def retry_seconds(delay: float) -> int:
    return max(1, math.ceil(delay))


class SlidingWindow:
    """At most `limit` hits in any `period` seconds."""

    def __init__(self, limit: int, period: float, clock: Callable[[], float] = time.monotonic):
        self._limit = limit
        self._period = period
        self._clock = clock
        self._hits: deque[float] = deque()

    def hit(self) -> int | None:
        """Count a hit if allowed and return None; else return the seconds until one is allowed."""
        now = self._clock()
        while self._hits and self._hits[0] <= now - self._period:
            self._hits.popleft()
        if len(self._hits) >= self._limit:
            return retry_seconds(self._hits[0] + self._period - now)
        self._hits.append(now)
        return None


class ConnectionLimits:
    """One visitor connection's limits (kept in its socket session)."""

    def __init__(self, settings: LimitSettings):
        self._messages = SlidingWindow(settings.messages_per_minute, 60.0)
        self._typing = SlidingWindow(settings.typing_per_second, 1.0)

    def message(self) -> None:
        retry = self._messages.hit()
        if retry is not None:
            raise RateLimited(retry, "You are sending messages too quickly; please wait a moment.", limit="messages")

    def typing(self) -> None:
        retry = self._typing.hit()
        if retry is not None:
            raise RateLimited(retry, limit="typing")


class SharedCounter(Protocol):
    async def hit(self, counter_id: str, expires_at: datetime) -> int: ...


class MongoCounter:
    def __init__(self, db: Database):
        self._db = db

    async def hit(self, counter_id: str, expires_at: datetime) -> int:
        return await self._db.rate_counters.hit(counter_id, expires_at)


class RedisCounter:
    def __init__(self, client: aioredis.Redis):
        self._client = client

    async def hit(self, counter_id: str, expires_at: datetime) -> int:
        key = "chat-service:limit:" + counter_id
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expireat(key, int(expires_at.timestamp()) + 1)
                count, _ = await pipe.execute()
        except aioredis.RedisError as exc:
            raise StorageUnavailable("The chat is busy right now; please retry.") from exc
        return int(count)


class AddressLimits:
    """Per-address limits, keyed by an HMAC of the address."""

    def __init__(
        self,
        settings: LimitSettings,
        hmac_keys: HmacKeys,
        counter: SharedCounter,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._settings = settings
        self._hmac = hmac_keys
        self._counter = counter
        self._clock = clock
        self._connections: dict[str, int] = {}

    def key(self, ip: str | None) -> str | None:
        return None if not ip else self._hmac.mac("pseudonym", b"abuse-limit:" + ip.encode())[:32]

    def connect(self, key: str | None) -> None:
        if key is None:
            return
        held = self._connections.get(key, 0)
        if held >= self._settings.connections_per_address:
            raise RateLimited(
                CONNECTION_RETRY_S, "Too many chat connections from your network; try again later.", limit="connections"
            )
        self._connections[key] = held + 1

    def disconnect(self, key: str | None) -> None:
        if key is None or key not in self._connections:
            return
        self._connections[key] -= 1
        if self._connections[key] <= 0:
            del self._connections[key]

    async def new_conversation(self, key: str | None) -> None:
        """Count a conversation about to start; refuse it once the address's hourly budget is spent."""
        await self._hourly(
            "conv",
            key,
            self._settings.conversations_per_hour,
            "Too many new conversations from your network; please try again later.",
            "conversations",
        )

    async def upload(self, key: str | None) -> None:
        """Count a file a visitor attaches; refuse it once the address's hourly budget is spent."""
        await self._hourly(
            "upload",
            key,
            self._settings.uploads_per_hour,
            "Too many files from your network; please try again later.",
            "uploads",
        )

    async def _hourly(self, kind: str, key: str | None, limit: int, message: str, metric: str) -> None:
        if key is None:
            return
        now = self._clock()
        period = CONVERSATION_WINDOW.total_seconds()
        start = math.floor(now.timestamp() / period) * period
        ends = datetime.fromtimestamp(start + period, UTC)
        count = await self._counter.hit(f"{kind}:{key}:{int(start)}", ends)
        if count > limit:
            raise RateLimited(retry_seconds((ends - now).total_seconds()), message, limit=metric)

    async def transcript(self, conversation_id: str) -> None:
        """Count a transcript e-mail of a conversation; refuse past the hourly budget (every node)."""
        await self._hourly(
            "transcript",
            conversation_id,
            self._settings.transcripts_per_hour,
            "This transcript was sent too often; please try again later.",
            "transcripts",
        )


ADDRESS_LIMITS = web.AppKey("address_limits", AddressLimits)


def limit_settings(app: web.Application) -> LimitSettings:
    s = app[SETTINGS]
    return LimitSettings(
        messages_per_minute=s.limit_messages_per_minute,
        typing_per_second=s.limit_typing_per_second,
        connections_per_address=s.limit_connections_per_address,
        conversations_per_hour=s.limit_conversations_per_hour,
        transcripts_per_hour=s.limit_transcripts_per_hour,
        uploads_per_hour=s.limit_uploads_per_hour,
    )


async def limits_context(app: web.Application) -> AsyncIterator[None]:
    """The per-address limits, sharing their counters through Redis when configured, else MongoDB."""
    services = app[SERVICES]
    url = app[SETTINGS].redis_url
    client = aioredis.Redis.from_url(url) if url else None
    counter: SharedCounter = RedisCounter(client) if client is not None else MongoCounter(services.db)
    app[ADDRESS_LIMITS] = AddressLimits(limit_settings(app), services.hmac_keys, counter)
    try:
        yield
    finally:
        if client is not None:
            await client.aclose()
