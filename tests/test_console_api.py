"""The console's server side: CSRF, login backoff, roles, users, claims, presence, canned responses."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
import socketio

from tests.helpers import ServerProcess, agent_client, call, login_full, visitor_client

PASSWORD = "correct horse battery staple"


class Api:
    """A logged-in HTTP client that sends the CSRF header like the console does."""

    def __init__(self, server: ServerProcess, cookie: str, csrf: str):
        self.server, self.cookie, self.csrf = server, cookie, csrf

    async def request(self, method: str, path: str, body: Any = None, *, csrf: bool = True) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with aiohttp.ClientSession(cookies={"chat_session": self.cookie}) as session:
            async with session.request(method, self.server.url + path, json=body, headers=headers) as resp:
                return resp.status, await resp.json(content_type=None)


async def admin_api(server: ServerProcess) -> Api:
    server.create_user("admin@example.eu", PASSWORD, role="admin")
    return Api(server, *await login_full(server, "admin@example.eu", PASSWORD))


async def test_state_changing_requests_without_csrf_token_are_refused(server: ServerProcess) -> None:
    api = await admin_api(server)
    body = {"email": "new@example.eu", "role": "agent"}
    status, problem = await api.request("POST", "/api/users", body, csrf=False)
    assert status == 403 and "CSRF" in problem["message"]
    api_wrong = Api(server, api.cookie, "not-the-token")
    assert (await api_wrong.request("POST", "/api/users", body))[0] == 403
    assert server.db().users.count_documents({"email": "new@example.eu"}) == 0
    status, created = await api.request("POST", "/api/users", body)
    assert status == 201 and created["temporary_password"]


@pytest.fixture
def two_agents(server: ServerProcess) -> list[str]:
    server.create_user("anna@example.eu", PASSWORD)
    server.create_user("bram@example.eu", PASSWORD)
    return ["anna@example.eu", "bram@example.eu"]


async def test_claim_race(server: ServerProcess, two_agents: list[str]) -> None:
    (anna, anna_events), (bram, bram_events) = [
        await agent_client(server, (await login_full(server, email, PASSWORD))[0]) for email in two_agents
    ]
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v", "text": "hulp graag"})
    await anna_events.next("conversation_created")
    await bram_events.next("conversation_created")
    ref = {"conversation_id": ack["conversation_id"]}
    results = await asyncio.gather(call(anna, "/agent", "claim", ref), call(bram, "/agent", "claim", ref))
    winners = [r for r in results if r["ok"]]
    losers = [r for r in results if not r["ok"]]
    assert len(winners) == 1 and len(losers) == 1
    winner_id = winners[0]["conversation"]["assigned_agent_id"]
    assert losers[0]["error"]["code"] == "conflict"
    assert losers[0]["error"]["details"]["assigned_agent_id"] == winner_id
    for events in (anna_events, bram_events):
        assert (await events.next("conversation_updated"))["conversation"]["assigned_agent_id"] == winner_id

    # Views: waiting no longer lists it; "mine" does for the winner only.
    winner, loser = (anna, bram) if results[0]["ok"] else (bram, anna)
    assert (await call(winner, "/agent", "list", {"status": "waiting"}))["conversations"] == []
    mine = (await call(winner, "/agent", "list", {"status": "mine"}))["conversations"]
    assert [c["id"] for c in mine] == [ack["conversation_id"]]
    assert (await call(loser, "/agent", "list", {"status": "mine"}))["conversations"] == []
    for client in (anna, bram, visitor):
        await client.disconnect()


async def test_inbox_rows_have_label_preview_and_unread(server: ServerProcess, two_agents: list[str]) -> None:
    agent, _ = await agent_client(server, (await login_full(server, two_agents[0], PASSWORD))[0])
    named, _ = await visitor_client(server)
    await call(named, "/visitor", "message", {"client_id": "a", "text": "eerste", "profile": {"name": "Jan"}})
    ack = await call(named, "/visitor", "message", {"client_id": "b", "text": "<b>tweede</b>"})
    anonymous, _ = await visitor_client(server)
    other = await call(anonymous, "/visitor", "message", {"client_id": "a", "text": "hallo"})
    rows = {r["id"]: r for r in (await call(agent, "/agent", "list", {"status": "open"}))["conversations"]}
    mine = rows[ack["conversation_id"]]
    assert mine["label"] == "Jan" and mine["preview"]["text"] == "<b>tweede</b>" and mine["unread"] == 2
    assert rows[other["conversation_id"]]["label"].startswith("Visitor ")
    assert (await call(agent, "/agent", "read", {"conversation_id": ack["conversation_id"], "seen": 2}))["ok"]
    rows = {r["id"]: r for r in (await call(agent, "/agent", "list", {"status": "open"}))["conversations"]}
    assert rows[ack["conversation_id"]]["unread"] == 0
    for client in (agent, named, anonymous):
        await client.disconnect()


async def test_disabled_agent_is_disconnected_and_cannot_log_in(server: ServerProcess) -> None:
    api = await admin_api(server)
    server.create_user("leaver@example.eu", PASSWORD)
    leaver, _ = await agent_client(server, (await login_full(server, "leaver@example.eu", PASSWORD))[0])
    disconnected = asyncio.Event()
    leaver.on("disconnect", lambda *args: disconnected.set(), namespace="/agent")
    user_id = server.db().users.find_one({"email": "leaver@example.eu"})["_id"]

    status, body = await api.request("PATCH", f"/api/users/{user_id}", {"disabled": True})
    assert status == 200 and body["user"]["disabled"] is True
    await asyncio.wait_for(disconnected.wait(), 10)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.url + "/api/session", json={"email": "leaver@example.eu", "password": PASSWORD}
        ) as r:
            assert r.status == 401
    audit = server.db().audit_events.find_one({"action": "user.updated"})
    assert audit["target_id"] == user_id and audit["details"] == {"disabled": True}
    await leaver.disconnect()


async def test_reset_password_forces_a_change_at_next_login(server: ServerProcess) -> None:
    api = await admin_api(server)
    server.create_user("forgetful@example.eu", PASSWORD)
    user_id = server.db().users.find_one({"email": "forgetful@example.eu"})["_id"]
    status, body = await api.request("POST", f"/api/users/{user_id}/reset-password")
    assert status == 200
    temporary = body["temporary_password"]
    cookie, csrf = await login_full(server, "forgetful@example.eu", temporary)
    user_api = Api(server, cookie, csrf)
    assert (await user_api.request("GET", "/api/session"))[1]["user"]["must_change_password"] is True
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(server, cookie)
    status, _ = await user_api.request(
        "POST", "/api/password", {"current_password": "wrong", "new_password": "a brand new password"}
    )
    assert status == 401
    status, _ = await user_api.request(
        "POST", "/api/password", {"current_password": temporary, "new_password": "a brand new password"}
    )
    assert status == 200
    sock, _ = await agent_client(server, cookie)
    await sock.disconnect()


async def test_agents_cannot_use_admin_routes(server: ServerProcess) -> None:
    server.create_user("plain@example.eu", PASSWORD)
    api = Api(server, *await login_full(server, "plain@example.eu", PASSWORD))
    for method, path in (("GET", "/api/users"), ("GET", "/api/audit"), ("POST", "/api/canned")):
        status, problem = await api.request(method, path, {"shortcut": "x", "title": "x", "text": "x"})
        assert status == 403 and problem["code"] == "forbidden", (method, path)


async def test_canned_responses_are_managed_by_admins_and_listed_for_agents(server: ServerProcess) -> None:
    api = await admin_api(server)
    status, body = await api.request("POST", "/api/canned", {"shortcut": "hi", "title": "Greeting", "text": "Hallo!"})
    assert status == 200
    item = body["canned"]
    assert (await api.request("POST", "/api/canned", {"shortcut": "hi", "title": "Dup", "text": "x"}))[0] == 409
    server.create_user("user@example.eu", PASSWORD)
    agent, _ = await agent_client(server, (await login_full(server, "user@example.eu", PASSWORD))[0])
    assert (await call(agent, "/agent", "canned"))["canned"] == [item]
    assert (await api.request("DELETE", f"/api/canned/{item['id']}"))[0] == 200
    assert (await call(agent, "/agent", "canned"))["canned"] == []
    await agent.disconnect()


async def test_presence_shows_who_is_online(server: ServerProcess, two_agents: list[str]) -> None:
    anna, anna_events = await agent_client(server, (await login_full(server, two_agents[0], PASSWORD))[0])
    bram, _ = await agent_client(server, (await login_full(server, two_agents[1], PASSWORD))[0])
    bram_id = server.db().users.find_one({"email": two_agents[1]})["_id"]
    anna_id = server.db().users.find_one({"email": two_agents[0]})["_id"]
    assert (await anna_events.next("presence")) == {"user_id": anna_id, "online": True, "status": "online"}
    assert (await anna_events.next("presence")) == {"user_id": bram_id, "online": True, "status": "online"}
    agents = {a["id"]: a for a in (await call(anna, "/agent", "agents"))["agents"]}
    assert agents[bram_id]["online"] is True
    await bram.disconnect()
    assert (await anna_events.next("presence")) == {"user_id": bram_id, "online": False, "status": "online"}
    await anna.disconnect()


async def test_openapi_describes_every_api_route(server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/api/openapi.json") as r:
            spec = await r.json()
    assert spec["openapi"].startswith("3.")
    from chat_service.app import create_app
    from chat_service.settings import load_settings

    app = create_app(load_settings({"CHAT_DEV": "1"}))
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/") and route.method != "HEAD":
            served.add((re.sub(r":[^{}]*(?:\{[^{}]*\}[^{}]*)*\}", "}", path), route.method.lower()))
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served <= documented, served - documented
