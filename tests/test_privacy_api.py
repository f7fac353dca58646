"""The console's privacy API: find, export, erase and breach reports, for admins only, over a real server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from tests.helpers import ServerProcess, call, login_full, visitor_client

PASSWORD = "correct horse battery staple"
ANNA = {
    "name": "Anna Canary-Bakker",
    "email": "Anna.Bakker@Voorbeeld.nl",
    "page_url": "https://shop.example.eu/p?r=anna",
}
ANNA_TEXTS = ["Mijn IBAN is NL02ABNA0123456789", "Bel 06-55554444 voor de retour"]
ANNA_CANARIES = ["Anna Canary-Bakker", "anna.bakker@voorbeeld.nl", "r=anna", *ANNA_TEXTS]
BOB = {"name": "Bob Other", "email": "bob@elders.nl"}
BOB_CANARIES = ["Bob Other", "bob@elders.nl", "Bob zijn geheim 0687654321"]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Api:
    """A logged-in HTTP client that sends the CSRF header like the console does (unless told not to)."""

    server: ServerProcess
    cookie: str
    csrf: str

    async def post(self, path: str, body: Any, *, csrf: bool = True) -> Reply:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        async with aiohttp.ClientSession(cookies={"chat_session": self.cookie}) as session:
            async with session.post(self.server.url + path, json=body, headers=headers) as resp:
                return Reply(resp.status, dict(resp.headers), await resp.json(content_type=None))


async def login_as(server: ServerProcess, email: str, role: str) -> Api:
    server.create_user(email, PASSWORD, role=role)
    return Api(server, *await login_full(server, email, PASSWORD))


async def visitor_conversation(server: ServerProcess, texts: list[str], profile: dict[str, str]) -> str:
    client, _ = await visitor_client(server)
    ack = await call(client, "/visitor", "message", {"client_id": "v0", "text": texts[0], "profile": profile})
    assert ack["ok"], ack
    for i, text in enumerate(texts[1:], 1):
        assert (await call(client, "/visitor", "message", {"client_id": f"v{i}", "text": text}))["ok"]
    await client.disconnect()
    return str(ack["conversation_id"])


@pytest.fixture
async def admin(server: ServerProcess) -> Api:
    return await login_as(server, "dpo@example.eu", "admin")


async def test_agents_are_refused_and_post_without_csrf_is_refused(server: ServerProcess, admin: Api) -> None:
    conv = await visitor_conversation(server, ["hallo"], BOB)
    agent = await login_as(server, "agent@example.eu", "agent")
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/api/privacy/find", {"email": "bob@elders.nl"}),
        ("/api/privacy/export", {"conversation_ids": [conv]}),
        ("/api/privacy/erase", {"conversation_ids": [conv], "confirm": "ERASE"}),
        ("/api/privacy/breach-report", {"from": "2026-01-01T00:00Z", "to": "2026-01-02T00:00Z"}),
    ]
    for path, body in requests:
        refused = await agent.post(path, body)
        assert (refused.status, refused.body["code"]) == (403, "forbidden"), path
        no_csrf = await admin.post(path, body, csrf=False)
        assert no_csrf.status == 403 and "CSRF" in no_csrf.body["message"], path
    assert server.db().conversations.count_documents({"_id": conv}) == 1
    assert server.db().audit_events.count_documents({"action": {"$regex": "^privacy"}}) == 0


async def test_find_by_email_or_id_shows_ids_times_and_state_only(server: ServerProcess, admin: Api) -> None:
    anna = [await visitor_conversation(server, ANNA_TEXTS, ANNA), await visitor_conversation(server, ["x"], ANNA)]
    bob = await visitor_conversation(server, ["Bob zijn geheim 0687654321"], BOB)
    found = await admin.post("/api/privacy/find", {"email": " ANNA.bakker@voorbeeld.NL "})
    assert found.status == 200
    assert [c["id"] for c in found.body["conversations"]] == anna
    first = found.body["conversations"][0]
    assert set(first) == {
        "id",
        "status",
        "offline",
        "created_at",
        "last_activity_at",
        "closed_at",
        "message_count",
        "pseudonymised",
    }
    assert first["message_count"] == 2 and first["status"] == "open"
    by_id = await admin.post("/api/privacy/find", {"conversation_id": bob})
    assert [c["id"] for c in by_id.body["conversations"]] == [bob]
    nobody = await admin.post("/api/privacy/find", {"email": "nobody@example.eu"})
    assert nobody.body["conversations"] == []
    searched = list(server.db().audit_events.find({"action": "privacy.searched"}))
    assert len(searched) == 3 and "anna" not in json.dumps(searched, default=str).lower()


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/privacy/find", {}, "invalid_input"),
        ("/api/privacy/find", {"email": "a@b.eu", "conversation_id": "c" + "0" * 24}, "invalid_input"),
        ("/api/privacy/find", {"email": "not-an-address"}, "invalid_input"),
        ("/api/privacy/find", {"email": "a@b.eu", "name": "x"}, "invalid_input"),
        ("/api/privacy/export", {"conversation_ids": []}, "invalid_input"),
        ("/api/privacy/export", {"conversation_ids": ["../etc"]}, "invalid_input"),
        ("/api/privacy/export", {"conversation_ids": ["c" + "0" * 24]}, "not_found"),
        ("/api/privacy/erase", {"conversation_ids": ["c" + "0" * 24]}, "invalid_input"),
        ("/api/privacy/breach-report", {"from": "yesterday", "to": "2026-01-02T00:00Z"}, "invalid_input"),
        ("/api/privacy/breach-report", {"from": "2026-01-01T00:00", "to": "2026-01-02T00:00"}, "invalid_input"),
        ("/api/privacy/breach-report", {"from": "2026-01-02T00:00Z", "to": "2026-01-01T00:00Z"}, "invalid_input"),
        ("/api/privacy/breach-report", {"from": "2024-01-01T00:00Z", "to": "2026-01-01T00:00Z"}, "invalid_input"),
        ("/api/privacy/breach-report", {"from": "2026-01-01T00:00Z", "to": 5}, "invalid_input"),
    ],
)
async def test_bad_requests_are_refused_with_a_code(
    server: ServerProcess, admin: Api, path: str, body: dict[str, Any], code: str
) -> None:
    reply = await admin.post(path, body)
    assert (reply.status, reply.body["code"]) == (404 if code == "not_found" else 400, code), reply.body


async def test_export_is_a_file_with_every_canary_of_the_person_and_none_of_anyone_else(
    server: ServerProcess, admin: Api
) -> None:
    anna = await visitor_conversation(server, ANNA_TEXTS, ANNA)
    bob = await visitor_conversation(server, ["Bob zijn geheim 0687654321"], BOB)
    reply = await admin.post("/api/privacy/export", {"conversation_ids": [anna]})
    assert reply.status == 200
    assert reply.headers["Content-Disposition"].startswith("attachment; filename=")
    assert reply.headers["Cache-Control"] == "no-store"
    text = json.dumps(reply.body, ensure_ascii=False).lower()
    for canary in ANNA_CANARIES:
        assert canary.lower() in text, f"{canary!r} missing from the export"
    for canary in [*BOB_CANARIES, bob]:
        assert canary.lower() not in text
    assert reply.body["format"] == "chat-service/export/v1"
    assert [m["text"] for m in reply.body["conversations"][0]["messages"]] == ANNA_TEXTS
    exported = server.db().audit_events.find_one({"action": "privacy.exported"})
    assert exported is not None and exported["target_id"] == anna


async def test_erase_needs_confirmation_then_removes_everything_and_is_audited(
    server: ServerProcess, admin: Api
) -> None:
    anna = await visitor_conversation(server, ANNA_TEXTS, ANNA)
    bob = await visitor_conversation(server, ["Bob zijn geheim 0687654321"], BOB)
    db = server.db()
    for confirm in ("erase", "yes", True):
        refused = await admin.post("/api/privacy/erase", {"conversation_ids": [anna], "confirm": confirm})
        assert (refused.status, refused.body["code"]) == (400, "confirmation_required")
    missing = await admin.post("/api/privacy/erase", {"conversation_ids": [anna]})
    assert missing.status == 400 and missing.body["details"]["fields"] == ["confirm"]
    assert db.conversations.count_documents({"_id": anna}) == 1

    erased = await admin.post("/api/privacy/erase", {"conversation_ids": [anna], "confirm": "ERASE"})
    assert (erased.status, erased.body) == (200, {"erased": 1})
    assert db.conversations.count_documents({"_id": anna}) == 0
    assert db.messages.count_documents({"conversation_id": anna}) == 0
    assert db.data_keys.count_documents({"_id": anna}) == 0
    assert db.conversations.count_documents({"_id": bob}) == 1 and db.data_keys.count_documents({"_id": bob}) == 1
    event = db.audit_events.find_one({"action": "privacy.erased"})
    assert event is not None and event["target_id"] == anna
    assert event["actor_id"] == db.users.find_one({"email": "dpo@example.eu"})["_id"]
    again = await admin.post("/api/privacy/erase", {"conversation_ids": [anna], "confirm": "ERASE"})
    assert (again.status, again.body["code"]) == (404, "not_found")


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_breach_report_lists_conversations_stored_in_the_window_and_not_outside(
    server: ServerProcess, admin: Api
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    early = await visitor_conversation(server, ["vroeg"], ANNA)
    late = await visitor_conversation(server, ["laat"], BOB)
    after = datetime.now(UTC) + timedelta(seconds=1)
    created = {c["_id"]: c["created_at"] for c in server.db().conversations.find()}
    boundary = created[late]  # the window [from, to) splits the two conversations here
    assert created[early] < boundary

    first = await admin.post("/api/privacy/breach-report", {"from": _iso(before), "to": _iso(boundary)})
    assert first.status == 200 and first.headers["Content-Disposition"].startswith("attachment; filename=")
    assert [row["conversation_id"] for row in first.body["conversations"]] == [early]
    second = await admin.post("/api/privacy/breach-report", {"from": _iso(boundary), "to": _iso(after)})
    assert [row["conversation_id"] for row in second.body["conversations"]] == [late]
    row = second.body["conversations"][0]
    assert row["created_in_window"] and row["messages_stored_in_window"] == 1
    text = json.dumps(second.body).lower()
    assert "bob" not in text and "elders" not in text  # pseudonymous data subjects only
    assert server.db().audit_events.count_documents({"action": "privacy.breach_report"}) == 2
