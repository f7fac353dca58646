"""Search: structured filters in the database, free text decrypted in memory, one audit event
per search that never holds the searched text or e-mail address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chat_service.errors import ChatError
from chat_service.schemas import validate
from chat_service.schemas.teams import ReportQuery, SearchBody, TeamBody, TeamChangesBody
from tests.helpers import ServerProcess, agent_client, call, login_full, visitor_client
from tests.test_api_contract import _schema_of
from tests.test_console_api import Api

PASSWORD = "correct horse battery staple"
SECRET_TERM = "Kastanjelaan 17"


async def _chat(server: ServerProcess, text: str, email: str | None = None) -> str:
    visitor, _ = await visitor_client(server)
    first: dict[str, object] = {"client_id": f"c{abs(hash(text))}", "text": text}
    if email:
        first["profile"] = {"email": email, "name": "Anna"}
    ack = await call(visitor, "/visitor", "message", first)
    await visitor.disconnect()
    return str(ack["conversation_id"])


async def test_filters_combine_and_text_is_matched_without_a_plaintext_index(server: ServerProcess) -> None:
    server.create_user("agent@example.eu", PASSWORD)
    api = Api(server, *await login_full(server, "agent@example.eu", PASSWORD))
    agent, _ = await agent_client(server, api.cookie)
    with_address = await _chat(server, f"Bezorgen op {SECRET_TERM} graag", email="anna@example.eu")
    other = await _chat(server, "Een andere vraag")
    closed = await _chat(server, "Gesloten vraag over de kastanjelaan")
    await call(agent, "/agent", "claim", {"conversation_id": other})
    await call(agent, "/agent", "close", {"conversation_id": closed})
    db = server.db()
    db.conversations.update_one({"_id": other}, {"$set": {"labels": ["billing", "vip"]}})

    async def ids(body: dict[str, object]) -> list[str]:
        status, found = await api.request("POST", "/api/search", body)
        assert status == 200, found
        return [row["id"] for row in found["conversations"]]

    assert await ids({"text": "kastanjelaan"}) == [closed, with_address]
    assert await ids({"text": "KASTANJELAAN", "status": "open"}) == [with_address]
    assert await ids({"email": " Anna@Example.eu "}) == [with_address]
    assert await ids({"conversation_id": other}) == [other]
    assert await ids({"status": "closed"}) == [closed]
    assert set(await ids({"status": "waiting"})) == {with_address}
    users = db.users.find_one({"email": "agent@example.eu"})
    assert await ids({"agent_id": users["_id"]}) == [other]
    assert await ids({"labels": ["vip"]}) == [other]
    assert await ids({"labels": ["vip", "nope"]}) == []
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert await ids({"from": future}) == []
    assert set(await ids({"to": future})) == {with_address, other, closed}
    _, found = await api.request("POST", "/api/search", {"text": "laan 17"})
    assert SECRET_TERM in found["conversations"][0]["match"]
    assert found["limits"] == {"candidates": 200, "messages": 5000} and found["truncated"] is False

    # No plaintext index: the term is nowhere in the database, only in the encrypted message.
    for name in db.list_collection_names():
        for doc in db[name].find():
            assert SECRET_TERM.encode() not in repr(doc).encode(), name
            assert b"anna@example.eu" not in repr(doc).encode(), name

    # One audit event per search (12 above), with the filters but not the text or the address.
    events = list(db.audit_events.find({"action": "conversations.searched"}))
    assert len(events) == 12
    text_search = events[0]["details"]
    assert text_search["text"] is True and "kastanjelaan" not in repr(events).lower()
    by_email = events[2]["details"]
    assert "email" not in by_email and len(by_email["email_index"]) == 64
    await agent.disconnect()


async def test_bad_search_input_is_refused_with_the_field_named(server: ServerProcess) -> None:
    server.create_user("agent@example.eu", PASSWORD)
    api = Api(server, *await login_full(server, "agent@example.eu", PASSWORD))
    for body, field in [
        ({"text": "x"}, "text"),
        ({"status": "lost"}, "status"),
        ({"limit": 0}, "limit"),
        ({"from": "2026-11-25T10:00:00Z", "to": "2026-11-24T10:00:00Z"}, "to"),
        ({"conversation_id": "c123"}, "conversation_id"),
        ({"text": None}, "text"),
    ]:
        status, problem = await api.request("POST", "/api/search", body)
        assert status == 400 and problem["details"]["field"] == field, (body, problem)
    status, problem = await api.request("POST", "/api/search", {"query": "x"})
    assert status == 400 and problem["details"]["fields"] == ["query"]
    assert server.db().audit_events.count_documents({"action": "conversations.searched"}) == 0


CASES: list[tuple[type[Any], Any, bool]] = [
    (SearchBody, {}, True),
    (SearchBody, {"text": "ab", "status": "bot", "labels": ["vip"], "site_ids": ["shop"], "limit": 100}, True),
    (SearchBody, {"labels": ["a\nb"]}, False),
    (SearchBody, {"site_ids": ["no space"]}, False),
    (SearchBody, {"limit": 101}, False),
    (SearchBody, {"agent_id": "u123"}, False),
    (SearchBody, {"email": None}, False),
    (TeamBody, {"name": "Shop"}, True),
    (TeamBody, {"name": " "}, False),
    (TeamBody, {"name": "Shop", "agent_ids": ["u" + "0" * 24], "site_ids": ["shop", "blog"]}, True),
    (TeamChangesBody, {}, False),
    (TeamChangesBody, {"site_ids": None}, False),
    (TeamChangesBody, {"site_ids": []}, True),
]


@pytest.mark.parametrize(("model", "body", "accepted"), CASES)
def test_search_and_team_schemas_and_the_server_agree(model: type[Any], body: Any, accepted: bool) -> None:
    assert _schema_of(model).is_valid(body) is accepted
    if accepted:
        validate(model, body)
        return
    with pytest.raises(ChatError) as refused:
        validate(model, body)
    assert refused.value.http_status == 400


@pytest.mark.parametrize(
    ("query", "ok"),
    [
        ({"from": "2026-11-01", "to": "2026-11-30"}, True),
        ({"from": "2026-11-30", "to": "2026-11-01"}, False),
        ({"from": "2025-01-01", "to": "2026-11-30"}, False),
        ({"from": "0", "to": "2026-11-30"}, False),
        ({"from": "2026-11-01", "to": "2026-11-30", "tz_offset": "60", "site": "shop"}, True),
        ({"from": "2026-11-01", "to": "2026-11-30", "tz_offset": "900"}, False),
    ],
)
def test_report_queries_are_validated(query: dict[str, str], ok: bool) -> None:
    if ok:
        validate(ReportQuery, query)
        return
    with pytest.raises(ChatError):
        validate(ReportQuery, query)
