"""Sign-in throttling: atomic, bounded, per (account, address) pair plus a per-address cap, and the
client address taken from the entry our own proxy added to X-Forwarded-For."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from chat_service.crypto import HMAC_PURPOSES, HmacKeys
from chat_service.errors import TooManyAttempts
from chat_service.login_throttle import PER_ADDRESS, PER_PAIR, WINDOW, LoginThrottle, estimate, retry_after
from chat_service.sockets.base import forwarded_client
from chat_service.storage import Database
from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client

PASSWORD = "correct horse battery staple"
WRONG = "wrong password 123"


@pytest.fixture(scope="module")
def proxied(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server behind a (pretend) trusted proxy: X-Forwarded-For picks each request's address."""
    server = ServerProcess(
        secantus.uri, tmp_path_factory.mktemp("throttle"), env_extra={"CHAT_TRUST_PROXY": "true"}
    ).start()
    yield server
    server.stop()


def throttle_on(db: Database) -> LoginThrottle:
    return LoginThrottle(db, HmacKeys({p: secrets.token_bytes(32) for p in HMAC_PURPOSES}))


def a_window_start() -> datetime:
    """The start of a window a day from now: the counters' TTL dates are still ahead of the clock."""
    span = WINDOW.total_seconds()
    return datetime.fromtimestamp((datetime.now(UTC).timestamp() // span + 96) * span, tz=UTC)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def attempt(
    http: aiohttp.ClientSession, server: ServerProcess, email: str, password: str, address: str
) -> tuple[int, Any]:
    headers = {"X-Forwarded-For": address}
    body = {"email": email, "password": password}
    async with http.post(server.url + "/api/session", json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    ("header", "hops", "expected"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("1.1.1.1, 203.0.113.9", 1, "203.0.113.9"),  # the left entry is the client's own claim
        ("forged, 203.0.113.9, 10.0.0.2", 2, "203.0.113.9"),
        ("203.0.113.9", 2, None),  # fewer entries than proxies: not trustworthy
        ("", 1, None),
    ],
)
def test_forwarded_client_is_the_entry_our_proxy_added(header: str, hops: int, expected: str | None) -> None:
    assert forwarded_client(header, hops) == expected


def test_retry_after_is_bounded_and_ends_when_the_estimate_fits() -> None:
    span = WINDOW.total_seconds()
    # However many guesses, the wait never exceeds two windows.
    for current in (PER_PAIR + 1, 1_000, 10**9):
        wait = retry_after(0, current, 0.0, PER_PAIR)
        assert 0 < wait <= 2 * span
        later = 1 - 0.0 + wait / span - 1  # elapsed fraction into the next window at the end of the wait
        assert estimate(current, 1, later) <= PER_PAIR + 1e-9
    # Still inside the window: the previous window's weight has to fade first.
    wait = retry_after(PER_PAIR * 2, 0, 0.25, PER_PAIR)
    assert estimate(PER_PAIR * 2, 1, 0.25 + wait / span) <= PER_PAIR + 1e-9


async def test_a_block_ends_on_its_own_and_counters_expire(db: Database) -> None:
    """Nothing has to clean up: the estimate decays, and every counter carries its TTL date."""
    throttle = throttle_on(db)
    t0 = a_window_start()
    for _ in range(PER_PAIR):
        await throttle.count("decay@example.eu", "198.51.100.20", t0)
    with pytest.raises(TooManyAttempts) as blocked:
        await throttle.count("decay@example.eu", "198.51.100.20", t0)
    wait = blocked.value.retry_after
    assert 0 < wait <= 2 * WINDOW.total_seconds()
    # Nobody tried meanwhile: after the wait the next attempt is let through, with no clean-up run.
    await throttle.count("decay@example.eu", "198.51.100.20", t0 + timedelta(seconds=wait))
    # Two windows on, the whole allowance is back.
    fresh = t0 + 3 * WINDOW
    for _ in range(PER_PAIR):
        await throttle.count("decay@example.eu", "198.51.100.20", fresh)
    docs = await db.db.login_throttle.find().to_list()
    assert docs and all("expires_at" in doc for doc in docs)
    indexes = await (await db.db.login_throttle.list_indexes()).to_list()
    assert any(index.get("key") == {"expires_at": 1} and index.get("expireAfterSeconds") == 0 for index in indexes)


async def test_an_office_behind_one_address_is_not_locked_out_by_its_own_sign_ins(db: Database) -> None:
    """Failures from one address weigh on its cap; successes give their attempt back."""
    throttle = throttle_on(db)
    now = a_window_start()
    for i in range(PER_ADDRESS - 1):  # colleagues mistyping, each on their own account
        await throttle.count(f"typo{i}@example.eu", "192.0.2.80", now)
    for i in range(3 * PER_ADDRESS):  # a busy morning of correct passwords behind the same NAT
        attempt = await throttle.count(f"colleague{i % 20}@example.eu", "192.0.2.80", now)
        await throttle.succeeded(attempt)
    await throttle.count("spray0@example.eu", "192.0.2.80", now)  # the cap's last failure
    with pytest.raises(TooManyAttempts):  # failures still add up to it
        await throttle.count("spray1@example.eu", "192.0.2.80", now)


async def test_a_burst_of_100_concurrent_guesses_checks_at_most_the_allowance(
    proxied: ServerProcess, http: aiohttp.ClientSession
) -> None:
    proxied.create_user("burst@example.eu", PASSWORD)
    answers = await asyncio.gather(
        *(attempt(http, proxied, "burst@example.eu", WRONG, "198.51.100.1") for _ in range(100))
    )
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {401, 429}, statuses  # never a 500
    assert 1 <= statuses[401] <= PER_PAIR and statuses[429] == 100 - statuses[401]
    # The block is honoured: the right password from that address is refused too ...
    status, problem = await attempt(http, proxied, "burst@example.eu", PASSWORD, "198.51.100.1")
    assert status == 429 and 1 <= problem["details"]["retry_after"] <= 2 * WINDOW.total_seconds()
    # ... but the e-mail alone locks no one out: the agent's own address signs in.
    assert (await attempt(http, proxied, "burst@example.eu", PASSWORD, "192.0.2.50"))[0] == 200
    assert '"http_failed"' not in proxied.logs()


async def test_1000_sequential_guesses_never_fail_open(proxied: ServerProcess, http: aiohttp.ClientSession) -> None:
    proxied.create_user("seq@example.eu", PASSWORD)
    statuses = [(await attempt(http, proxied, "seq@example.eu", WRONG, "198.51.100.2"))[0] for _ in range(1_000)]
    assert statuses[:PER_PAIR] == [401] * PER_PAIR
    assert statuses[PER_PAIR:] == [429] * (1_000 - PER_PAIR)
    status, problem = await attempt(http, proxied, "seq@example.eu", PASSWORD, "198.51.100.2")
    assert status == 429 and problem["code"] == "too_many_attempts"
    assert 1 <= problem["details"]["retry_after"] <= 2 * WINDOW.total_seconds()
    # Neither the e-mail nor the address is stored in clear.
    raw = str(list(proxied.db().login_throttle.find()))
    assert "seq@example.eu" not in raw and "198.51.100.2" not in raw


async def test_unknown_and_real_accounts_are_throttled_alike(
    proxied: ServerProcess, http: aiohttp.ClientSession
) -> None:
    proxied.create_user("real@example.eu", PASSWORD)
    answers = []
    for email in ("real@example.eu", "nobody@example.eu"):
        statuses = [(await attempt(http, proxied, email, WRONG, "198.51.100.3"))[0] for _ in range(PER_PAIR + 1)]
        answers.append(statuses)
    assert answers[0] == answers[1] == [401] * PER_PAIR + [429]


async def test_success_resets_the_pair(proxied: ServerProcess, http: aiohttp.ClientSession) -> None:
    proxied.create_user("typo@example.eu", PASSWORD)
    for _ in range(PER_PAIR - 1):
        assert (await attempt(http, proxied, "typo@example.eu", WRONG, "198.51.100.4"))[0] == 401
    assert (await attempt(http, proxied, "typo@example.eu", PASSWORD, "198.51.100.4"))[0] == 200
    for _ in range(PER_PAIR):
        assert (await attempt(http, proxied, "typo@example.eu", WRONG, "198.51.100.4"))[0] == 401


async def test_one_address_is_capped_across_accounts(proxied: ServerProcess, http: aiohttp.ClientSession) -> None:
    proxied.create_user("colleague@example.eu", PASSWORD)
    statuses = [
        (await attempt(http, proxied, f"spray{i}@example.eu", WRONG, "198.51.100.5"))[0] for i in range(PER_ADDRESS)
    ]
    assert statuses == [401] * PER_ADDRESS
    assert (await attempt(http, proxied, "colleague@example.eu", PASSWORD, "198.51.100.5"))[0] == 429
    assert (await attempt(http, proxied, "colleague@example.eu", PASSWORD, "198.51.100.6"))[0] == 200


async def test_a_forged_forwarded_for_entry_does_not_dodge_the_throttle(
    proxied: ServerProcess, http: aiohttp.ClientSession
) -> None:
    statuses = [
        (await attempt(http, proxied, "target@example.eu", WRONG, f"10.9.{i}.1, 198.51.100.7"))[0]
        for i in range(PER_PAIR + 1)
    ]
    assert statuses == [401] * PER_PAIR + [429]


async def test_the_stored_visitor_address_is_the_proxy_entry(proxied: ServerProcess) -> None:
    visitor, _ = await visitor_client(proxied, headers={"X-Forwarded-For": "203.0.113.66, 198.51.100.8"})
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "hallo"})
    await visitor.disconnect()
    proxied.create_user("dpo@example.eu", PASSWORD, role="admin")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        status, body = await attempt(http, proxied, "dpo@example.eu", PASSWORD, "192.0.2.60")
        assert status == 200
        headers = {"X-CSRF-Token": body["csrf_token"]}
        async with http.post(
            proxied.url + "/api/privacy/export", json={"conversation_ids": [ack["conversation_id"]]}, headers=headers
        ) as resp:
            assert resp.status == 200, await resp.text()
            exported = await resp.text()
    assert "198.51.100.8" in exported and "203.0.113.66" not in exported
