"""Sign-in throttling on (account, address) pairs plus a cap per address, with decaying counters.

Every attempt is counted *before* the password is checked, by one atomic upsert + `$inc` that
returns the new count, so concurrent guesses cannot all pass a check that none of them has yet
recorded. Counts live in fixed windows; the limit applies to a sliding estimate (the previous
window's count weighted by how much of it still overlaps, plus the current count), so nothing
needs cleaning up and a block ends on its own. An account is never locked by its e-mail alone:
a correct password from an address that has not failed still passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat_service.crypto import HmacKeys
from chat_service.errors import TooManyAttempts
from chat_service.storage import Database

WINDOW = timedelta(minutes=15)
# Attempts allowed per window for one account from one address, and for one address overall.
PER_PAIR = 10
PER_ADDRESS = 50
# Second-factor codes tried per account (whoever knows the password, from any address).
SECOND_FACTOR_PER_ACCOUNT = 10


@dataclass(frozen=True)
class Attempt:
    """The counters one sign-in attempt was counted against."""

    pair_key: str
    address_key: str
    window: int


def estimate(previous: int, current: int, elapsed: float) -> float:
    """Sliding-window count: the part of the previous window still inside the last `WINDOW`."""
    return previous * (1 - elapsed) + current


def retry_after(previous: int, current: int, elapsed: float, limit: int) -> int:
    """Seconds until one more attempt would fit under `limit`, if nobody tries meanwhile."""
    span = WINDOW.total_seconds()
    room = limit - 1 - current  # what the previous window may still weigh in this one
    if room >= 0:
        until = 1 - room / previous if previous else 0.0
        return max(1, math.ceil((until - elapsed) * span))
    # Not in this window: the current count becomes the previous one and decays from there.
    until = max(0.0, 1 - (limit - 1) / current)
    return max(1, math.ceil((1 - elapsed + until) * span))


class LoginThrottle:
    def __init__(self, db: Database, keys: HmacKeys):
        self._db = db
        self._keys = keys

    def _keys_for(self, email: str, address: str | None) -> tuple[str, str]:
        addr = (address or "").encode()
        pair = "pair:" + self._keys.mac("blind_index", b"login-pair:" + email.encode() + b"\x00" + addr)
        return pair, "addr:" + self._keys.mac("blind_index", b"login-ip:" + addr)

    async def count(self, email: str, address: str | None, now: datetime) -> Attempt:
        """Count this attempt; raise `TooManyAttempts` if it is over either limit."""
        pair_key, address_key = self._keys_for(email, address)
        window = await self._count({pair_key: PER_PAIR, address_key: PER_ADDRESS}, now)
        return Attempt(pair_key, address_key, window)

    async def count_second_factor(self, user_id: str, now: datetime) -> None:
        """Count one second-factor code for this account; raise `TooManyAttempts` over the limit."""
        key = "2fa:" + self._keys.mac("blind_index", b"second-factor:" + user_id.encode())
        await self._count({key: SECOND_FACTOR_PER_ACCOUNT}, now)

    async def _count(self, limits: dict[str, int], now: datetime) -> int:
        span = WINDOW.total_seconds()
        window = int(now.timestamp() // span)
        elapsed = now.timestamp() / span - window
        expires = datetime.fromtimestamp((window + 2) * span, tz=now.tzinfo)
        store = self._db.throttle
        current = {key: await store.count_attempt(key, window, expires) for key in limits}
        previous = await store.counts(list(limits), window - 1)
        waits = [
            retry_after(previous[key], current[key], elapsed, limit)
            for key, limit in limits.items()
            if estimate(previous[key], current[key], elapsed) > limit
        ]
        if waits:
            raise TooManyAttempts(retry_after=max(waits))
        return window

    async def succeeded(self, attempt: Attempt) -> None:
        """The pair starts afresh; the address gets this attempt back (only failures weigh)."""
        await self._db.throttle.clear(attempt.pair_key, [attempt.window - 1, attempt.window])
        await self._db.throttle.refund(attempt.address_key, attempt.window)
