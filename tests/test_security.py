"""Attacks that must fail: forged tokens, unauthenticated agents, bad input, leaks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest
import socketio

from tests.conftest import AGENT_PASSWORD
from tests.helpers import ServerProcess, agent_client, call, login, login_full, visitor_client


async def _start(server: ServerProcess, text: str = "geheim bericht") -> dict[str, Any]:
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": text})
    await visitor.disconnect()
    return ack


def _flip(char: str) -> str:
    return "A" if char != "A" else "B"


async def test_token_attacks_are_refused(server: ServerProcess) -> None:
    mine = await _start(server, "bericht van mij")
    other = await _start(server, "bericht van een ander")
    conv, secret = mine["token"].split(".")
    other_conv, other_secret = other["token"].split(".")
    forged = [
        f"{conv}.{'A' * 43}",  # guessed secret
        f"{conv}.{secret[:-1]}{_flip(secret[-1])}",  # altered secret
        f"{other_conv}.{secret}",  # my secret on another conversation
        f"{conv}.{other_secret}",  # another conversation's secret on mine
        f"{conv[:-1]}{'0' if conv[-1] != '0' else '1'}.{secret}",  # altered id
        mine["token"] + "x",
        "",
        "not-a-token",
        "c" + "0" * 24 + "." + "A" * 43,
    ]
    attacker, _ = await visitor_client(server)
    for token in forged:
        ack = await call(attacker, "/visitor", "resume", {"token": token})
        assert ack == {"ok": False, "error": {"code": "invalid_token", "message": ack["error"]["message"]}}, token
    for payload in ({"token": 123}, {"token": ["x"]}, {}, None, "token"):
        assert (await call(attacker, "/visitor", "resume", payload))["ok"] is False
    # Having failed, the attacker is in no conversation: typing reaches no one, a message starts a new one.
    ack = await call(attacker, "/visitor", "message", {"client_id": "z", "text": "hallo"})
    assert ack["conversation_id"] not in (conv, other_conv)
    await attacker.disconnect()

    honest, _ = await visitor_client(server)
    assert (await call(honest, "/visitor", "resume", {"token": mine["token"]}))["ok"] is True
    await honest.disconnect()


async def test_expired_token_is_refused(server: ServerProcess) -> None:
    ack = await _start(server)
    server.db().conversations.update_one(
        {"_id": ack["conversation_id"]},
        {"$set": {"resume_expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}},
    )
    visitor, _ = await visitor_client(server)
    assert (await call(visitor, "/visitor", "resume", {"token": ack["token"]}))["error"]["code"] == "invalid_token"
    await visitor.disconnect()


async def test_forgotten_token_stops_working(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "hoi"})
    assert (await call(visitor, "/visitor", "forget"))["ok"] is True
    await visitor.disconnect()
    again, _ = await visitor_client(server)
    assert (await call(again, "/visitor", "resume", {"token": ack["token"]}))["error"]["code"] == "invalid_token"
    await again.disconnect()


@pytest.mark.parametrize(
    "cookie",
    [None, "chat_session=forged-session-id", "chat_session=", "other=1", "chat_session=" + "x" * 500],
)
async def test_unauthenticated_agent_connection_is_refused(server: ServerProcess, cookie: str | None) -> None:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": cookie} if cookie else {}
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, namespaces=["/agent"], transports=["websocket"], headers=headers)
    assert server.alive()


async def test_expired_and_logged_out_sessions_are_refused(server: ServerProcess, agent: tuple[str, str]) -> None:
    cookie = await login(server, *agent)
    server.db().sessions.update_many({}, {"$set": {"last_seen_at": dt.datetime.now(dt.UTC) - dt.timedelta(days=2)}})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(server, cookie)

    cookie, csrf = await login_full(server, *agent)
    async with aiohttp.ClientSession(cookies={"chat_session": cookie}) as session:
        async with session.delete(server.url + "/api/session", headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(server, cookie)


async def test_wrong_password_and_unknown_user_look_the_same(server: ServerProcess, agent: tuple[str, str]) -> None:
    answers = []
    async with aiohttp.ClientSession() as session:
        for email, password in ((agent[0], "wrong password!!"), ("nobody@example.eu", AGENT_PASSWORD)):
            async with session.post(server.url + "/api/session", json={"email": email, "password": password}) as r:
                answers.append((r.status, await r.json(), "chat_session" in r.cookies))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401 and answers[0][2] is False


async def test_session_cookie_flags(server: ServerProcess, agent: tuple[str, str]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/api/session", json={"email": agent[0], "password": agent[1]}) as r:
            header = r.headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Strict" in header
    assert "Secure" not in header  # plain HTTP here; behind TLS it is set


async def test_session_cookie_is_secure_behind_tls_proxy(secantus: Any, tmp_path: Any) -> None:
    server = ServerProcess(secantus.uri, tmp_path / "s", env_extra={"CHAT_TRUST_PROXY": "true"}).start()
    try:
        server.create_user("tls@example.eu", AGENT_PASSWORD)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                server.url + "/api/session",
                json={"email": "tls@example.eu", "password": AGENT_PASSWORD},
                headers={"X-Forwarded-Proto": "https"},
            ) as r,
        ):
            assert "Secure" in r.headers["Set-Cookie"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'{"email": 1, "password": "x"}',
        b'{"email": "a@b.eu"}',
        b'{"email":"a@b.eu","password":"x","x":1}',
    ],
)
async def test_bad_login_bodies_get_a_clear_400(server: ServerProcess, body: bytes) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/api/session", data=body, headers={"Content-Type": "application/json"}) as r,
    ):
        assert r.status == 400
        problem = await r.json(content_type=None)
        assert problem["code"] == "invalid_input" and problem["message"]


async def test_agent_event_with_bad_conversation_ids(server: ServerProcess, agent: tuple[str, str]) -> None:
    sock, _ = await agent_client(server, await login(server, *agent))
    for payload in ({"conversation_id": "c" + "0" * 24}, {"conversation_id": "$ne"}, {"conversation_id": {"$ne": 1}}):
        ack = await call(sock, "/agent", "open", payload)
        assert ack["ok"] is False and ack["error"]["code"] in ("not_found", "invalid_input")
    await sock.disconnect()
