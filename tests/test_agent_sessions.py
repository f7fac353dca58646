"""An agent socket lives only as long as its session: logout, a password change elsewhere, idle
and absolute expiry all close it (on every node); refusals carry a readable code; what an
agent signs in, out and lists is audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest
import socketio

from tests.conftest import AGENT_PASSWORD
from tests.helpers import ServerProcess, agent_client, call, login_full, visitor_client
from tests.waiting import eventually

REDIS_URL = "redis://127.0.0.1:6379/0"


async def http(
    server: ServerProcess, method: str, path: str, cookie: str, csrf: str, body: Any = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(cookies={"chat_session": cookie}) as session,
        session.request(method, server.url + path, json=body, headers={"X-CSRF-Token": csrf}) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


async def can_list(sock: socketio.AsyncClient) -> bool:
    """True only if the socket still gets the inbox."""
    try:
        return bool((await call(sock, "/agent", "list", {"status": "open"}))["ok"])
    except (socketio.exceptions.SocketIOError, TimeoutError):
        return False


async def start_conversation(server: ServerProcess) -> str:
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "mijn vraag"})
    await visitor.disconnect()
    return str(ack["conversation_id"])


async def assert_cut_off(server: ServerProcess, sock: socketio.AsyncClient, cookie: str, conversation: str) -> None:
    await eventually(lambda: not sock.connected, what="the server to close the agent socket")
    assert not await can_list(sock)
    with pytest.raises(socketio.exceptions.SocketIOError):
        await call(sock, "/agent", "open", {"conversation_id": conversation})
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(server, cookie)


async def test_logout_closes_the_sessions_socket(server: ServerProcess, agent: tuple[str, str]) -> None:
    conversation = await start_conversation(server)
    cookie, csrf = await login_full(server, *agent)
    sock, _ = await agent_client(server, cookie)
    assert await can_list(sock)
    assert (await http(server, "DELETE", "/api/session", cookie, csrf))[0] == 200
    await assert_cut_off(server, sock, cookie, conversation)


async def test_password_change_elsewhere_closes_other_sessions_sockets(
    server: ServerProcess, agent: tuple[str, str]
) -> None:
    conversation = await start_conversation(server)
    old_cookie, _ = await login_full(server, *agent)
    old, _ = await agent_client(server, old_cookie)
    new_cookie, new_csrf = await login_full(server, *agent)
    current, _ = await agent_client(server, new_cookie)
    body = {"current_password": AGENT_PASSWORD, "new_password": "another long passphrase"}
    assert (await http(server, "POST", "/api/password", new_cookie, new_csrf, body))[0] == 200
    await assert_cut_off(server, old, old_cookie, conversation)
    assert current.connected and await can_list(current)  # the session that changed it stays
    await current.disconnect()


@pytest.mark.parametrize("field", ["last_seen_at", "created_at"], ids=["idle expiry", "absolute lifetime"])
async def test_expired_sessions_socket_is_closed(server: ServerProcess, agent: tuple[str, str], field: str) -> None:
    conversation = await start_conversation(server)
    cookie, _ = await login_full(server, *agent)
    sock, _ = await agent_client(server, cookie)
    assert await can_list(sock)
    # Idle for longer than CHAT_SESSION_IDLE_MINUTES (8 h), or older than CHAT_SESSION_MAX_DAYS (7 d).
    age = dt.timedelta(hours=9) if field == "last_seen_at" else dt.timedelta(days=8)
    server.db().sessions.update_many({}, {"$set": {field: dt.datetime.now(dt.UTC) - age}})
    await assert_cut_off(server, sock, cookie, conversation)


async def test_absolute_lifetime_ends_an_active_http_session(server: ServerProcess, agent: tuple[str, str]) -> None:
    cookie, csrf = await login_full(server, *agent)
    assert (await http(server, "GET", "/api/session", cookie, csrf))[0] == 200
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=7, minutes=1)
    server.db().sessions.update_many({}, {"$set": {"created_at": old}})  # busy all along, but too old
    status, problem = await http(server, "GET", "/api/session", cookie, csrf)
    assert status == 401 and problem["code"] == "unauthenticated"


async def test_logout_on_one_node_closes_the_socket_on_another(two_nodes: tuple[ServerProcess, ServerProcess]) -> None:
    node_a, node_b = two_nodes
    node_a.create_user("nodes@example.eu", AGENT_PASSWORD)
    conversation = await start_conversation(node_a)
    cookie, csrf = await login_full(node_a, "nodes@example.eu", AGENT_PASSWORD)
    sock, _ = await agent_client(node_b, cookie)
    assert await can_list(sock)
    assert (await http(node_a, "DELETE", "/api/session", cookie, csrf))[0] == 200
    await assert_cut_off(node_b, sock, cookie, conversation)


async def refusal(server: ServerProcess, cookie: str | None, origin: str | None = None) -> Any:
    """Connect to /agent and return the connect_error payload the server sent."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data: errors.append(data), namespace="/agent")
    headers = {"Cookie": f"chat_session={cookie}"} if cookie else {}
    if origin:
        headers["Origin"] = origin
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, namespaces=["/agent"], transports=["websocket"], headers=headers)
    await client.disconnect()
    # The packet as sent: the JS client exposes it as `err.message` and `err.data`.
    assert isinstance(errors[0], dict) and isinstance(errors[0].get("data"), dict), errors
    return errors[0]["data"]


async def test_connect_error_carries_a_readable_code(server: ServerProcess, agent: tuple[str, str]) -> None:
    assert (await refusal(server, None))["code"] == "unauthenticated"
    server.create_user("fresh@example.eu", AGENT_PASSWORD)
    server.db().users.update_one({"email": "fresh@example.eu"}, {"$set": {"must_change_password": True}})
    cookie, _ = await login_full(server, "fresh@example.eu", AGENT_PASSWORD)
    data = await refusal(server, cookie)
    assert data["code"] == "password_change_required" and data["message"]


async def test_visitor_forbidden_origin_carries_a_readable_code(server: ServerProcess) -> None:
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data: errors.append(data), namespace="/visitor")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(server.url, namespaces=["/visitor"], transports=["websocket"], auth={"site": "nope"})
    await client.disconnect()
    assert errors and isinstance(errors[0], dict) and errors[0]["data"]["code"] == "forbidden_origin", errors


async def test_sign_in_out_failures_and_list_views_are_audited(server: ServerProcess, agent: tuple[str, str]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url + "/api/session", json={"email": agent[0], "password": "wrong password 1"}) as r,
    ):
        assert r.status == 401
    await start_conversation(server)
    cookie, csrf = await login_full(server, *agent)
    sock, _ = await agent_client(server, cookie)
    for _ in range(2):
        assert await can_list(sock)
    await sock.disconnect()
    assert (await http(server, "DELETE", "/api/session", cookie, csrf))[0] == 200
    user = server.db().users.find_one({"email": agent[0]})
    # The account's creation by the CLI (audited too) is not this test's business.
    events = list(server.db().audit_events.find({"action": {"$ne": "user.created"}}).sort("_id", 1))
    assert [e["action"] for e in events] == [
        "session.sign_in_failed",
        "session.signed_in",
        "conversations.listed",  # one event per list call, not one per conversation
        "conversations.listed",
        "session.signed_out",
    ]
    assert all(e["actor_id"] == user["_id"] for e in events)
    assert events[2]["details"] == {"view": "open", "count": 1}
    raw = str(events)
    assert agent[0] not in raw and "127.0.0.1" not in raw and "wrong password" not in raw and "mijn vraag" not in raw
