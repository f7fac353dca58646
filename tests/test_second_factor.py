"""TOTP two-factor sign-in, recovery codes, the admin requirement, and one's list of sessions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import aiohttp
import pyotp
import pytest
import socketio

from tests.conftest import AGENT_PASSWORD
from tests.helpers import SecantusProcess, ServerProcess, agent_client
from tests.waiting import eventually

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Version/17.5 Safari/604.1"


@pytest.fixture(scope="module")
def strict(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        secantus.uri, tmp_path_factory.mktemp("2fa"), env_extra={"CHAT_REQUIRE_2FA_FOR_ADMINS": "true"}
    ).start()
    yield server
    server.stop()


class Client:
    """One browser: its own cookies (session, CSRF) and User-Agent."""

    def __init__(self, server: ServerProcess, user_agent: str = FIREFOX):
        self.server, self.user_agent = server, user_agent
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"User-Agent": self.user_agent, "X-CSRF-Token": self.cookies.get("chat_csrf", "")}
        async with (
            aiohttp.ClientSession(cookies=self.cookies) as session,
            session.request(method, self.server.url + path, json=body, headers=headers) as resp,
        ):
            for name, morsel in resp.cookies.items():
                self.cookies[name] = morsel.value
            return resp.status, await resp.json(content_type=None)

    async def sign_in(self, email: str) -> tuple[int, Any]:
        return await self.request("POST", "/api/session", {"email": email, "password": AGENT_PASSWORD})


async def enrol(client: Client) -> tuple[pyotp.TOTP, list[str], str]:
    status, body = await client.request("POST", "/api/second-factor/enrol")
    assert status == 200 and body["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(body["secret"])
    used = totp.now()
    status, body = await client.request("POST", "/api/second-factor/confirm", {"code": used})
    assert status == 200, body
    return totp, body["recovery_codes"], used


def next_code(totp: pyotp.TOTP, ahead: int = 1) -> str:
    return str(totp.generate_otp(totp.timecode(datetime.now()) + ahead))


async def test_sign_in_needs_the_code_once_a_factor_is_on(strict: ServerProcess) -> None:
    strict.create_user("two@example.eu", AGENT_PASSWORD)
    first = Client(strict)
    assert (await first.sign_in("two@example.eu"))[0] == 200
    totp, recovery, used = await enrol(first)
    assert len(recovery) == 10 and len(set(recovery)) == 10
    # Neither the seed nor a recovery code is stored in clear.
    doc = str(strict.db().users.find_one({"email": "two@example.eu"}))
    assert totp.secret not in doc and not any(code in doc for code in recovery)

    pending = Client(strict)
    status, body = await pending.sign_in("two@example.eu")
    assert status == 200 and body == {"second_factor_required": True, "csrf_token": body["csrf_token"]}
    status, problem = await pending.request("GET", "/api/session")
    assert status == 401 and problem["code"] == "second_factor_required"
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(strict, pending.cookies["chat_session"])
    pending_cookie = pending.cookies["chat_session"]

    # The code used to confirm the enrolment is spent: replaying it fails; a wrong one fails.
    for code in (used, "000000" if used != "000000" else "111111"):
        status, problem = await pending.request("POST", "/api/session/second-factor", {"code": code})
        assert status == 401 and problem["code"] == "invalid_second_factor"
    code = next_code(totp)
    status, body = await pending.request("POST", "/api/session/second-factor", {"code": code})
    assert status == 200 and body["user"]["second_factor"] is True
    assert pending.cookies["chat_session"] != pending_cookie  # a new session secret after the step-up
    assert (await pending.request("GET", "/api/session"))[0] == 200

    # The same code a second time, in another sign-in, is a replay.
    again = Client(strict)
    await again.sign_in("two@example.eu")
    status, problem = await again.request("POST", "/api/session/second-factor", {"code": code})
    assert status == 401 and problem["code"] == "invalid_second_factor"
    # A recovery code works, once.
    assert (await again.request("POST", "/api/session/second-factor", {"code": recovery[0]}))[0] == 200
    third = Client(strict)
    await third.sign_in("two@example.eu")
    status, _ = await third.request("POST", "/api/session/second-factor", {"code": recovery[0]})
    assert status == 401


async def test_a_pending_session_gets_five_tries(strict: ServerProcess) -> None:
    strict.create_user("tries@example.eu", AGENT_PASSWORD)
    owner = Client(strict)
    await owner.sign_in("tries@example.eu")
    totp, _, _ = await enrol(owner)
    guesser = Client(strict)
    await guesser.sign_in("tries@example.eu")
    for _ in range(5):
        assert (await guesser.request("POST", "/api/session/second-factor", {"code": "123456"}))[0] == 401
    status, problem = await guesser.request("POST", "/api/session/second-factor", {"code": next_code(totp, 0)})
    assert status == 401 and problem["code"] == "unauthenticated"  # the pending session is gone


async def test_admins_must_enrol_when_the_setting_says_so(strict: ServerProcess) -> None:
    strict.create_user("boss@example.eu", AGENT_PASSWORD, role="admin")
    admin = Client(strict)
    assert (await admin.sign_in("boss@example.eu"))[0] == 200
    status, body = await admin.request("GET", "/api/session")
    assert status == 200 and body["second_factor_setup_required"] is True
    status, problem = await admin.request("GET", "/api/users")
    assert status == 403 and problem["code"] == "second_factor_setup_required"
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(strict, admin.cookies["chat_session"])
    await enrol(admin)
    assert (await admin.request("GET", "/api/users"))[0] == 200
    status, problem = await admin.request("DELETE", "/api/second-factor", {"password": AGENT_PASSWORD})
    assert status == 400  # cannot turn it off while required


async def test_sessions_list_and_signing_out_one_or_everywhere(strict: ServerProcess) -> None:
    strict.create_user("many@example.eu", AGENT_PASSWORD)
    laptop, phone = Client(strict, FIREFOX), Client(strict, SAFARI)
    for client in (laptop, phone):
        assert (await client.sign_in("many@example.eu"))[0] == 200
    phone_socket, _ = await agent_client(strict, phone.cookies["chat_session"])
    status, body = await laptop.request("GET", "/api/sessions")
    assert status == 200
    sessions = {s["client"]: s for s in body["sessions"]}
    assert set(sessions) == {"Firefox on Linux", "Safari on iOS"}
    assert sessions["Firefox on Linux"]["current"] and not sessions["Safari on iOS"]["current"]
    assert "127.0.0.1" not in str(body) and "Mozilla" not in str(body)

    assert (await laptop.request("DELETE", f"/api/sessions/{sessions['Safari on iOS']['id']}"))[0] == 200
    await eventually(lambda: not phone_socket.connected, what="the signed-out session's socket to close")
    assert (await phone.request("GET", "/api/session"))[0] == 401
    assert (await laptop.request("DELETE", "/api/sessions/0123456789abcdef"))[0] == 404

    assert (await phone.sign_in("many@example.eu"))[0] == 200
    assert (await laptop.request("DELETE", "/api/sessions"))[0] == 200
    for client in (laptop, phone):
        assert (await client.request("GET", "/api/session"))[0] == 401


async def test_second_factor_guesses_are_capped_per_account(strict: ServerProcess) -> None:
    """Knowing the password does not buy unlimited code guesses by signing in again and again."""
    strict.create_user("capped@example.eu", AGENT_PASSWORD)
    owner = Client(strict)
    await owner.sign_in("capped@example.eu")
    totp, _, _ = await enrol(owner)
    for _ in range(2):
        guesser = Client(strict)
        await guesser.sign_in("capped@example.eu")
        for _ in range(5):
            assert (await guesser.request("POST", "/api/session/second-factor", {"code": "123456"}))[0] == 401
    third = Client(strict)
    await third.sign_in("capped@example.eu")
    status, problem = await third.request("POST", "/api/session/second-factor", {"code": next_code(totp)})
    assert status == 429 and problem["code"] == "too_many_attempts"
