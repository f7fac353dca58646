"""Teams and site isolation at the socket and HTTP level: an agent of team A never receives an
event, inbox row, opening, claim, reply or search hit of site B; admins see every site."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.conftest import REDIS_URL
from tests.helpers import (
    Recorder,
    SecantusProcess,
    ServerProcess,
    agent_client,
    call,
    login_full,
)
from tests.test_console_api import Api

PASSWORD = "correct horse battery staple"
SITES_TOML = """
[sites.a]
origins = ["https://a.example.eu"]
[sites.b]
origins = ["https://b.example.eu"]
"""


def sites_env(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "sites.toml"
    path.write_text(SITES_TOML)
    return {"CHAT_SITES_FILE": str(path)}


@pytest.fixture
def site_server(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=sites_env(tmp_path)).start()
    yield proc
    proc.stop()


@dataclass
class Staff:
    admin: Api
    anna: Api  # will be in team A (site a)
    bram: Api  # will be in team B (site b)
    ids: dict[str, str]


async def staff_of(server: ServerProcess) -> Staff:
    for email, role in (("admin@example.eu", "admin"), ("anna@example.eu", "agent"), ("bram@example.eu", "agent")):
        server.create_user(email, PASSWORD, role=role)
    apis = [Api(server, *await login_full(server, f"{n}@example.eu", PASSWORD)) for n in ("admin", "anna", "bram")]
    status, users = await apis[0].request("GET", "/api/users")
    assert status == 200
    ids = {u["email"].split("@")[0]: u["id"] for u in users["users"]}
    return Staff(*apis, ids=ids)


async def make_teams(staff: Staff) -> dict[str, str]:
    teams = {}
    for name, member, site in (("Team A", "anna", "a"), ("Team B", "bram", "b")):
        status, body = await staff.admin.request(
            "POST", "/api/teams", {"name": name, "agent_ids": [staff.ids[member]], "site_ids": [site]}
        )
        assert status == 201, body
        teams[site] = body["team"]["id"]
    return teams


async def visitor_on(server: ServerProcess, site: str) -> tuple[socketio.AsyncClient, Recorder]:
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder()
    for name in ("message", "typing", "conversation_status"):
        client.on(name, recorder.handler(name), namespace="/visitor")
    await client.connect(server.url, namespaces=["/visitor"], transports=["websocket"], auth={"site": site})
    return client, recorder


async def start_chat(server: ServerProcess, site: str, text: str) -> tuple[socketio.AsyncClient, Recorder, str]:
    client, recorder = await visitor_on(server, site)
    first = {"client_id": uuid.uuid4().hex, "text": text, "site_id": site}
    ack = await call(client, "/visitor", "message", first)
    assert ack["ok"], ack
    return client, recorder, ack["conversation_id"]


async def agent_socket(server: ServerProcess, api: Api) -> tuple[socketio.AsyncClient, Recorder]:
    return await agent_client(server, api.cookie)


def ids_of(rows: list[dict[str, Any]]) -> set[str]:
    return {row["id"] for row in rows}


async def test_an_agent_sees_only_the_sites_of_their_teams(site_server: ServerProcess) -> None:
    staff = await staff_of(site_server)
    await make_teams(staff)
    anna, anna_events = await agent_socket(site_server, staff.anna)
    admin, admin_events = await agent_socket(site_server, staff.admin)

    # Site b first, then site a: by the time anna hears of a, b's event would have arrived before it.
    visitor_b, _, conv_b = await start_chat(site_server, "b", "Bestelling 4711 van site B")
    visitor_a, _, conv_a = await start_chat(site_server, "a", "Vraag over site A")
    assert (await anna_events.next("conversation_created"))["conversation"]["id"] == conv_a
    assert anna_events.pending("conversation_created") == 0
    created = {(await admin_events.next("conversation_created"))["conversation"]["id"] for _ in range(2)}
    assert created == {conv_a, conv_b}

    # Messages and typing of site b reach the admin, never anna.
    await call(visitor_b, "/visitor", "typing", {"typing": True})
    await call(visitor_b, "/visitor", "message", {"client_id": "b2", "text": "nog iets"})
    await call(visitor_a, "/visitor", "message", {"client_id": "a2", "text": "hallo?"})
    assert (await anna_events.next("message"))["message"]["conversation_id"] == conv_a
    assert anna_events.pending("typing") == 0 and anna_events.pending("message") == 0
    assert (await admin_events.next("typing"))["conversation_id"] == conv_b

    # Inbox rows: anna's lists hold site a only; the admin's both.
    for view in ("waiting", "open"):
        rows = (await call(anna, "/agent", "list", {"status": view}))["conversations"]
        assert ids_of(rows) == {conv_a}
        assert rows[0]["site_id"] == "a"
    assert ids_of((await call(admin, "/agent", "list", {"status": "open"}))["conversations"]) == {conv_a, conv_b}

    # Every handler that touches a conversation answers not_found for site b, as if it did not exist.
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("open", {"conversation_id": conv_b}),
        ("claim", {"conversation_id": conv_b}),
        ("reply", {"conversation_id": conv_b, "client_id": "x1", "text": "sneaky"}),
        ("typing", {"conversation_id": conv_b, "typing": True}),
        ("read", {"conversation_id": conv_b, "seen": 1}),
        ("close", {"conversation_id": conv_b}),
        ("reopen", {"conversation_id": conv_b}),
    ]
    for event, payload in attempts:
        answer = await call(anna, "/agent", event, payload)
        assert answer == {"ok": False, "error": {"code": "not_found", "message": "No such conversation."}}, event
    db = site_server.db()
    stored = db.conversations.find_one({"_id": conv_b})
    assert stored["assigned_agent_id"] is None and stored["status"] == "open"
    assert db.messages.count_documents({"conversation_id": conv_b, "sender": "agent"}) == 0

    # Nor can anna hand her own conversation to bram, who may not see site a.
    handed = await call(anna, "/agent", "claim", {"conversation_id": conv_a, "agent_id": staff.ids["bram"]})
    assert handed["error"]["code"] == "not_found"

    # And what she may do still works.
    assert (await call(anna, "/agent", "open", {"conversation_id": conv_a}))["ok"]
    assert (await call(anna, "/agent", "claim", {"conversation_id": conv_a}))["ok"]
    for client in (anna, admin, visitor_a, visitor_b):
        await client.disconnect()


async def test_search_and_reports_stay_inside_the_teams_sites(site_server: ServerProcess) -> None:
    staff = await staff_of(site_server)
    await make_teams(staff)
    visitor_a, _, conv_a = await start_chat(site_server, "a", "Mijn pakket 4711 is zoek")
    visitor_b, _, conv_b = await start_chat(site_server, "b", "Pakket 4711 ook bij site B")

    status, found = await staff.anna.request("POST", "/api/search", {"text": "4711"})
    assert status == 200 and ids_of(found["conversations"]) == {conv_a}
    assert "4711" in found["conversations"][0]["match"]
    status, found = await staff.anna.request("POST", "/api/search", {"conversation_id": conv_b})
    assert status == 200 and found["conversations"] == []
    status, found = await staff.anna.request("POST", "/api/search", {"site_ids": ["b"]})
    assert status == 200 and found["conversations"] == []
    status, found = await staff.admin.request("POST", "/api/search", {"text": "4711"})
    assert ids_of(found["conversations"]) == {conv_a, conv_b}

    status, report = await staff.anna.request("GET", "/api/reports?from=2020-01-01&to=2020-12-31")
    assert status == 200
    today = site_server.db().conversations.find_one({"_id": conv_a})["created_at"].date().isoformat()
    status, report = await staff.anna.request("GET", f"/api/reports?from={today}&to={today}")
    assert status == 200, report
    assert report["totals"]["conversations"] == 1
    assert [s["site_id"] for s in report["by_site"]] == ["a"]
    assert [t["name"] for t in report["by_team"]] == ["Team A"]
    status, report = await staff.admin.request("GET", f"/api/reports?from={today}&to={today}")
    assert report["totals"]["conversations"] == 2
    for client in (visitor_a, visitor_b):
        await client.disconnect()


async def test_without_teams_every_agent_sees_every_site_until_the_first_team(site_server: ServerProcess) -> None:
    staff = await staff_of(site_server)
    anna, anna_events = await agent_socket(site_server, staff.anna)
    visitor_b, _, conv_b = await start_chat(site_server, "b", "Geen teams nog")
    assert (await anna_events.next("conversation_created"))["conversation"]["id"] == conv_b
    assert (await call(anna, "/agent", "open", {"conversation_id": conv_b}))["ok"]

    # The first team (without anna) takes site b away from her at once, on her open socket too.
    status, body = await staff.admin.request(
        "POST", "/api/teams", {"name": "B only", "agent_ids": [staff.ids["bram"]], "site_ids": ["b"]}
    )
    assert status == 201
    assert (await call(anna, "/agent", "open", {"conversation_id": conv_b}))["error"]["code"] == "not_found"
    assert (await call(anna, "/agent", "list", {"status": "open"}))["conversations"] == []
    await call(visitor_b, "/visitor", "message", {"client_id": "b-late", "text": "nog daar?"})
    visitor_a, _, _ = await start_chat(site_server, "a", "Site A zonder team")
    # A presence event reaches every agent; anything sent to anna before it would have come first.
    bram, _ = await agent_socket(site_server, staff.bram)
    while (await anna_events.next("presence"))["user_id"] != staff.ids["bram"]:
        pass  # her own arrival came first
    assert anna_events.pending("message") == 0 and anna_events.pending("conversation_created") == 0

    # Put anna in the team: she joins site b's room without reconnecting.
    team_id = body["team"]["id"]
    status, _ = await staff.admin.request(
        "PATCH", f"/api/teams/{team_id}", {"agent_ids": [staff.ids["bram"], staff.ids["anna"]]}
    )
    assert status == 200
    await call(visitor_b, "/visitor", "message", {"client_id": "b-later", "text": "hallo team"})
    assert (await anna_events.next("message"))["message"]["text"] == "hallo team"
    for client in (anna, bram, visitor_a, visitor_b):
        await client.disconnect()


async def test_team_administration_is_admin_only_validated_and_audited(site_server: ServerProcess) -> None:
    staff = await staff_of(site_server)
    body = {"name": "Team A", "agent_ids": [staff.ids["anna"]], "site_ids": ["a"]}
    assert (await staff.anna.request("POST", "/api/teams", body))[0] == 403
    assert (await staff.anna.request("GET", "/api/teams"))[0] == 403
    status, problem = await staff.admin.request("POST", "/api/teams", {**body, "site_ids": ["nope"]})
    assert status == 400 and problem["details"]["field"] == "site_ids"
    status, problem = await staff.admin.request("POST", "/api/teams", {**body, "agent_ids": ["u" + "0" * 24]})
    assert status == 400 and problem["details"]["field"] == "agent_ids"
    status, created = await staff.admin.request("POST", "/api/teams", body)
    assert status == 201
    assert (await staff.admin.request("POST", "/api/teams", body))[0] == 409
    team_id = created["team"]["id"]
    status, listed = await staff.admin.request("GET", "/api/teams")
    assert status == 200 and listed["sites"] == ["a", "b"] and [t["id"] for t in listed["teams"]] == [team_id]
    assert (await staff.admin.request("PATCH", f"/api/teams/{team_id}", {}))[0] == 400
    status, renamed = await staff.admin.request("PATCH", f"/api/teams/{team_id}", {"name": "Shop"})
    assert status == 200 and renamed["team"]["name"] == "Shop" and renamed["team"]["site_ids"] == ["a"]
    assert (await staff.admin.request("DELETE", f"/api/teams/{team_id}"))[0] == 200
    assert (await staff.admin.request("DELETE", f"/api/teams/{team_id}"))[0] == 404
    actions = [e["action"] for e in site_server.db().audit_events.find({"target_type": "team"})]
    assert actions == ["team.created", "team.changed", "team.deleted"]


async def test_a_visitor_cannot_file_a_chat_under_another_site(site_server: ServerProcess) -> None:
    client, _ = await visitor_on(site_server, "a")
    ack = await call(client, "/visitor", "message", {"client_id": "x-site", "text": "hi", "site_id": "b"})
    assert ack["error"]["code"] == "invalid_input"
    ack = await call(client, "/visitor", "message", {"client_id": "x-site2", "text": "hi"})
    assert site_server.db().conversations.find_one({"_id": ack["conversation_id"]})["site_id"] == "a"
    await client.disconnect()


@pytest.fixture
def site_nodes(secantus: SecantusProcess, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two nodes of one deployment with sites a and b, sharing events through Redis."""
    env = {**sites_env(tmp_path), "CHAT_REDIS_URL": REDIS_URL}
    first = ServerProcess(secantus.uri, tmp_path / "n", env_extra=env).start()
    second = ServerProcess(secantus.uri, tmp_path / "n", database=first.database, env_extra=env).start()
    yield first, second
    first.stop()
    second.stop()


async def test_isolation_holds_across_nodes(site_nodes: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = site_nodes
    staff = await staff_of(first)
    # Bram's socket is on the second node, connected before any team exists (so it sees all);
    # the teams are made on the first node, which moves his socket through Redis.
    bram, bram_events = await agent_client(second, staff.bram.cookie)
    await make_teams(staff)
    visitor_a, _, conv_a = await start_chat(first, "a", "site a via node 1")
    visitor_b, _, conv_b = await start_chat(first, "b", "site b via node 1")
    assert (await bram_events.next("conversation_created"))["conversation"]["id"] == conv_b
    assert bram_events.pending("conversation_created") == 0
    assert (await call(bram, "/agent", "open", {"conversation_id": conv_a}))["error"]["code"] == "not_found"
    assert (await call(bram, "/agent", "open", {"conversation_id": conv_b}))["ok"]
    for client in (bram, visitor_a, visitor_b):
        await client.disconnect()
