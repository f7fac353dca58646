"""The console's working tools on the server: internal notes (which never reach the visitor, bots
or webhooks), labels, the visitor's earlier conversations, agent status and availability, and
"<colleague> is viewing / typing" across nodes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from chat_service.errors import InvalidInput, TextTooLong
from chat_service.validation import (
    LABEL,
    parse_agent_status,
    parse_agent_typing,
    parse_labels,
    parse_note,
    parse_viewing,
)
from tests.helpers import REPO, Recorder, ServerProcess, agent_client, call, login_full, visitor_client
from tests.waiting import eventually

PASSWORD = "correct horse battery staple"
ANNA, BRAM, ADMIN = "anna@example.eu", "bram@example.eu", "admin@example.eu"
NOTE = "NOTE-CANARY refund approved by Piet, visitor seemed upset"
EXTRA_EVENTS = ("note", "colleague")


async def agent(server: ServerProcess, email: str, role: str = "agent") -> tuple[socketio.AsyncClient, Recorder]:
    server.create_user(email, PASSWORD, role=role)
    client, recorder = await agent_client(server, (await login_full(server, email, PASSWORD))[0])
    for name in EXTRA_EVENTS:
        client.on(name, recorder.handler(name), namespace="/agent")
    return client, recorder


async def start(
    server: ServerProcess, text: str = "Hallo, ik heb een vraag", profile: dict[str, str] | None = None
) -> tuple[socketio.AsyncClient, Recorder, str, str]:
    client, recorder = await visitor_client(server)
    # Any other event the server might send to the visitor is recorded too, under "other".
    client.on("*", lambda event, data=None: recorder.events["other"].put_nowait((event, data)), namespace="/visitor")
    payload: dict[str, Any] = {"client_id": uuid.uuid4().hex, "text": text}
    if profile:
        payload["profile"] = profile
    ack = await call(client, "/visitor", "message", payload)
    assert ack["ok"], ack
    return client, recorder, ack["conversation_id"], ack["token"]


def drained(recorder: Recorder, name: str) -> list[Any]:
    queue = recorder.events[name]
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


class Admin:
    def __init__(self, server: ServerProcess, cookie: str, csrf: str):
        self.server, self.cookies, self.headers = server, {"chat_session": cookie}, {"X-CSRF-Token": csrf}

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        async with aiohttp.ClientSession(cookies=self.cookies) as session:
            async with session.request(method, self.server.url + path, json=body, headers=self.headers) as r:
                return r.status, await r.read()


async def admin_of(server: ServerProcess) -> Admin:
    server.create_user(ADMIN, PASSWORD, role="admin")
    return Admin(server, *await login_full(server, ADMIN, PASSWORD))


# --- internal notes ---------------------------------------------------------------------------


async def test_notes_never_reach_the_visitor_on_the_socket_resume_or_history(server: ServerProcess) -> None:
    anna, _ = await agent(server, ANNA)
    bram, bram_events = await agent(server, BRAM)
    visitor, heard, conversation_id, token = await start(server)
    ref = {"conversation_id": conversation_id}

    # Typing a note is not typing to the visitor; typing a reply is (the barrier: events keep order).
    assert (await call(anna, "/agent", "typing", {**ref, "typing": True, "note": True}))["ok"]
    assert (await call(anna, "/agent", "typing", {**ref, "typing": False, "note": True}))["ok"]
    noted = await call(anna, "/agent", "note", {**ref, "text": NOTE})
    assert noted["ok"] and noted["note"]["text"] == NOTE and noted["note"]["id"].startswith("n")
    assert (await call(anna, "/agent", "typing", {**ref, "typing": True}))["ok"]
    assert (await call(anna, "/agent", "reply", {**ref, "client_id": "r1", "text": "We kijken ernaar."}))["ok"]
    assert (await heard.next("typing"))["from"] == "agent"
    assert (await heard.next("message"))["message"]["text"] == "We kijken ernaar."

    # The colleague hears of the note live, and finds it when opening the conversation.
    assert (await bram_events.next("note"))["note"]["text"] == NOTE
    opened = await call(bram, "/agent", "open", ref)
    assert [n["text"] for n in opened["notes"]] == [NOTE]
    assert all(NOTE not in m["text"] for m in opened["messages"])

    # The visitor: nothing else arrived live, and a resumed history (another tab) has no note.
    everything = [drained(heard, name) for name in list(heard.events)]
    assert NOTE not in repr(everything) and "note" not in repr(everything)
    second, second_heard = await visitor_client(server)
    resumed = await call(second, "/visitor", "resume", {"token": token})
    assert resumed["ok"] and [m["text"] for m in resumed["messages"]] == [
        "Hallo, ik heb een vraag",
        "We kijken ernaar.",
    ]
    assert NOTE not in repr(resumed)
    # A visitor socket cannot ask for notes: there is no such event on /visitor.
    assert (await call(second, "/visitor", "note", {**ref, "text": "x"}))["error"]["code"] == "unknown_event"
    assert (await call(second, "/visitor", "open", ref))["error"]["code"] == "unknown_event"
    assert NOTE not in repr([drained(second_heard, name) for name in list(second_heard.events)])
    for client in (anna, bram, visitor, second):
        await client.disconnect()


async def test_notes_are_checked_like_messages(server: ServerProcess) -> None:
    anna, _ = await agent(server, ANNA)
    visitor, _, conversation_id, _ = await start(server)
    for bad in (
        {"conversation_id": conversation_id, "text": "   "},
        {"conversation_id": conversation_id, "text": 42},
        {"conversation_id": "not-an-id", "text": "x"},
        {"conversation_id": conversation_id, "text": "x", "visitor": True},
        {"conversation_id": conversation_id},
    ):
        ack = await call(anna, "/agent", "note", bad)
        assert ack["error"]["code"] == "invalid_input", bad
    too_long = await call(anna, "/agent", "note", {"conversation_id": conversation_id, "text": "x" * 4001})
    assert too_long["error"]["code"] == "text_too_long"
    unknown = await call(anna, "/agent", "note", {"conversation_id": "c" + "0" * 24, "text": "x"})
    assert unknown["error"]["code"] == "not_found"
    assert server.db().conversation_notes.count_documents({}) == 0
    # Without a session there is no /agent socket at all.
    with pytest.raises(socketio.exceptions.ConnectionError):
        await agent_client(server, "forged-session")
    for client in (anna, visitor):
        await client.disconnect()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[list[dict[str, Any]], dict[str, str]]]:
    """A real webhook receiver: every payload it verified, and where it listens (+ its secret)."""
    received: list[dict[str, Any]] = []
    config: dict[str, str] = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        received.append(Webhook(config["secret"]).verify(body, headers))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    config["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield received, config
    await runner.cleanup()


async def test_notes_never_reach_webhooks_and_write_no_outbox_row(
    server: ServerProcess, receiver: tuple[list[dict[str, Any]], dict[str, str]]
) -> None:
    received, config = receiver
    admin = await admin_of(server)
    events = ["conversation.created", "message.created", "conversation.assigned", "conversation.status_changed"]
    status, body = await admin.request(
        "POST",
        "/api/webhooks",
        {"url": config["url"], "region": "eu-central-1", "events": events, "fields": ["message.text"]},
    )
    assert status == 201, body
    config["secret"] = json.loads(body)["secret"]
    anna, _ = await agent(server, ANNA)
    visitor, _, conversation_id, _ = await start(server, "Waar blijft mijn pakket?")
    ref = {"conversation_id": conversation_id}
    assert (await call(anna, "/agent", "note", {**ref, "text": NOTE}))["ok"]
    assert (await call(anna, "/agent", "reply", {**ref, "client_id": "r1", "text": "Het is onderweg."}))["ok"]
    # The reply (after the note) is delivered: anything the note caused would have gone before it.
    await eventually(
        lambda: any(p["type"] == "message.created" and p["data"].get("text") == "Het is onderweg." for p in received),
        timeout=30,
        what="the reply's webhook",
    )
    assert NOTE not in repr(received)
    db = server.db()
    # conversation.created, the first message's and the reply's message.created: nothing for the note.
    assert db.outbox.count_documents({}) == 3
    assert db.messages.count_documents({"conversation_id": conversation_id}) == 2
    for client in (anna, visitor):
        await client.disconnect()


def decryptable_canary(db: Any, canary: bytes) -> bool:
    return any(canary in bytes(doc["text"]) for doc in db.conversation_notes.find())


async def test_notes_are_encrypted_at_rest_exported_and_deleted_with_the_conversation(server: ServerProcess) -> None:
    admin = await admin_of(server)
    anna, _ = await agent(server, ANNA)
    visitor, _, conversation_id, _ = await start(server, "Vraag over factuur", {"email": "vera@example.nl"})
    assert (await call(anna, "/agent", "note", {"conversation_id": conversation_id, "text": NOTE}))["ok"]
    db = server.db()
    stored = db.conversation_notes.find_one({"conversation_id": conversation_id})
    assert stored is not None and set(stored) == {"_id", "conversation_id", "author_id", "created_at", "text"}
    assert not decryptable_canary(db, b"NOTE-CANARY")

    status, body = await admin.request("POST", "/api/privacy/export", {"conversation_ids": [conversation_id]})
    assert status == 200
    exported = json.loads(body)["conversations"][0]
    assert [n["text"] for n in exported["internal_notes"]] == [NOTE]

    status, _ = await admin.request(
        "POST", "/api/privacy/erase", {"conversation_ids": [conversation_id], "confirm": "ERASE"}
    )
    assert status == 200
    assert db.conversation_notes.count_documents({}) == 0
    for client in (anna, visitor):
        await client.disconnect()


async def test_pseudonymisation_deletes_the_notes(server: ServerProcess) -> None:
    anna, _ = await agent(server, ANNA)
    visitor, _, conversation_id, _ = await start(server, "Mijn naam is Vera", {"name": "Vera", "email": "v@example.nl"})
    assert (await call(anna, "/agent", "note", {"conversation_id": conversation_id, "text": NOTE}))["ok"]
    await visitor.disconnect()
    await anna.disconnect()
    later = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "retention", "run", "--now", later],
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    db = server.db()
    conversation = db.conversations.find_one({"_id": conversation_id})
    assert conversation is not None and conversation.get("pseudonym")  # kept, pseudonymised
    assert db.conversation_notes.count_documents({}) == 0


# --- labels -----------------------------------------------------------------------------------


async def test_labels_are_validated_bounded_and_shared_live(server: ServerProcess) -> None:
    anna, _ = await agent(server, ANNA)
    bram, bram_events = await agent(server, BRAM)
    visitor, heard, conversation_id, _ = await start(server)
    ref = {"conversation_id": conversation_id}
    ack = await call(anna, "/agent", "labels", {**ref, "labels": ["  Refund ", "billing", "refund", "Spoed  klant"]})
    assert ack["ok"] and ack["conversation"]["labels"] == ["refund", "billing", "spoed klant"]
    updated = await bram_events.next("conversation_updated")
    while updated["conversation"]["id"] != conversation_id or not updated["conversation"]["labels"]:
        updated = await bram_events.next("conversation_updated")
    assert updated["conversation"]["labels"] == ["refund", "billing", "spoed klant"]
    rows = (await call(bram, "/agent", "list", {"status": "open"}))["conversations"]
    assert rows[0]["labels"] == ["refund", "billing", "spoed klant"]
    assert (await call(bram, "/agent", "label_suggestions"))["labels"] == ["billing", "refund", "spoed klant"]

    for bad in (
        ["-starts-with-dash"],
        ["x" * 33],
        ["<b>"],
        [""],
        [42],
        "refund",
        [f"l{i}" for i in range(11)],
    ):
        ack = await call(anna, "/agent", "labels", {**ref, "labels": bad})
        assert ack["error"]["code"] == "invalid_input", bad
    assert server.db().conversations.find_one({"_id": conversation_id})["labels"] == [
        "refund",
        "billing",
        "spoed klant",
    ]
    assert (await call(anna, "/agent", "labels", {**ref, "labels": []}))["conversation"]["labels"] == []
    # The visitor never hears of labels.
    assert "refund" not in repr([drained(heard, name) for name in list(heard.events)])
    for client in (anna, bram, visitor):
        await client.disconnect()


# --- the visitor's earlier conversations --------------------------------------------------------


async def test_earlier_conversations_come_from_the_blind_index_and_are_audited(server: ServerProcess) -> None:
    anna, _ = await agent(server, ANNA)
    first, _, first_id, _ = await start(server, "Eerste vraag", {"email": "Vera@Example.nl"})
    other, _, other_id, _ = await start(server, "Iemand anders", {"email": "bob@example.nl"})
    anonymous, _, anonymous_id, _ = await start(server, "Zonder e-mail")
    second, _, second_id, _ = await start(server, "Tweede vraag", {"email": "vera@example.nl"})

    earlier = await call(anna, "/agent", "earlier", {"conversation_id": second_id})
    assert [c["id"] for c in earlier["conversations"]] == [first_id]
    assert set(earlier["conversations"][0]) >= {"id", "status", "created_at", "message_count"}
    assert "visitor" not in earlier["conversations"][0]
    assert (await call(anna, "/agent", "earlier", {"conversation_id": anonymous_id}))["conversations"] == []
    assert [
        c["id"] for c in (await call(anna, "/agent", "earlier", {"conversation_id": first_id}))["conversations"]
    ] == [second_id]
    assert other_id not in repr(earlier)
    bad = await call(anna, "/agent", "earlier", {"conversation_id": "c" + "1" * 24})
    assert bad["error"]["code"] == "not_found"

    audited = list(server.db().audit_events.find({"action": "conversation.earlier_listed"}))
    assert [(e["target_id"], e["details"]["count"]) for e in audited] == [
        (second_id, 1),
        (anonymous_id, 0),
        (first_id, 1),
    ]
    for client in (anna, first, other, anonymous, second):
        await client.disconnect()


# --- agent status and availability --------------------------------------------------------------


async def availability(server: ServerProcess) -> bool:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/api/widget/availability", params={"site": "demo"}) as resp:
            assert resp.status == 200, await resp.text()
            return bool((await resp.json())["online"])


async def unavailable(server: ServerProcess) -> bool:
    return not await availability(server)


async def test_status_survives_reconnect_and_only_online_agents_make_the_widget_available(
    server: ServerProcess,
) -> None:
    assert await availability(server) is False
    anna, _ = await agent(server, ANNA)
    bram, bram_events = await agent(server, BRAM)
    assert await availability(server) is True

    assert (await call(anna, "/agent", "status", {"status": "away"}))["status"] == "away"
    presence = await bram_events.next("presence")
    while presence.get("status") != "away":
        presence = await bram_events.next("presence")
    assert presence["status"] == "away" and presence["online"] is True
    assert await availability(server) is True  # bram is still online
    assert (await call(bram, "/agent", "status", {"status": "offline"}))["ok"]
    assert await availability(server) is False  # connected, but nobody chose "online"

    agents = {a["display_name"]: a for a in (await call(bram, "/agent", "agents"))["agents"]}
    assert (agents["anna"]["status"], agents["anna"]["online"]) == ("away", True)
    assert agents["bram"]["status"] == "offline"

    # Survives a reconnect (and a new session): the choice is the agent's, not the socket's.
    await anna.disconnect()
    anna, _ = await agent_client(server, (await login_full(server, ANNA, PASSWORD))[0])
    agents = {a["display_name"]: a for a in (await call(anna, "/agent", "agents"))["agents"]}
    assert agents["anna"]["status"] == "away"
    assert (await call(anna, "/agent", "status", {"status": "online"}))["ok"]
    assert await availability(server) is True
    for bad in ({"status": "busy"}, {"status": None}, {}, {"status": "online", "x": 1}):
        assert (await call(anna, "/agent", "status", bad))["error"]["code"] == "invalid_input", bad
    await anna.disconnect()
    await eventually(lambda: unavailable(server), what="no agent available once anna left")
    await bram.disconnect()


# --- who is viewing / typing --------------------------------------------------------------------


async def test_viewing_and_typing_reach_colleagues_across_nodes_and_nothing_is_stored(
    two_nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    one, two = two_nodes
    anna, anna_events = await agent(one, ANNA)
    two.create_user(BRAM, PASSWORD)
    bram, bram_events = await agent_client(two, (await login_full(two, BRAM, PASSWORD))[0])
    for name in EXTRA_EVENTS:
        bram.on(name, bram_events.handler(name), namespace="/agent")
    cara, cara_events = await agent(one, "cara@example.eu")
    visitor, heard, conversation_id, _ = await start(one)
    ref = {"conversation_id": conversation_id}
    collections_before = sorted(one.db().list_collection_names())
    ids = {a["display_name"]: a["id"] for a in (await call(anna, "/agent", "agents"))["agents"]}

    assert (await call(anna, "/agent", "viewing", ref))["ok"]
    assert (await call(bram, "/agent", "viewing", ref))["ok"]  # on the other node
    asked = await anna_events.next("colleague")
    assert asked == {**ref, "user_id": ids["bram"], "viewing": True, "typing": False, "ask": True}
    assert (await call(anna, "/agent", "viewing", {**ref, "answer": True}))["ok"]
    answered = await bram_events.next("colleague")
    assert answered == {**ref, "user_id": ids["anna"], "viewing": True, "typing": False, "ask": False}

    assert (await call(bram, "/agent", "typing", {**ref, "typing": True, "note": True}))["ok"]
    typing = await anna_events.next("colleague")
    assert (typing["user_id"], typing["typing"]) == (ids["bram"], True)

    # Leaving (another conversation, none, or disconnecting) tells those still there.
    assert (await call(bram, "/agent", "viewing", {"conversation_id": None}))["ok"]
    left = await anna_events.next("colleague")
    assert (left["user_id"], left["viewing"]) == (ids["bram"], False)
    assert (await call(bram, "/agent", "viewing", ref))["ok"]
    await anna_events.next("colleague")
    await bram.disconnect()
    gone = await anna_events.next("colleague")
    assert (gone["user_id"], gone["viewing"]) == (ids["bram"], False)

    # Only consoles showing the conversation hear of it; the visitor never; nothing was stored.
    assert cara_events.pending("colleague") == 0
    assert heard.pending("other") == 0
    assert sorted(one.db().list_collection_names()) == collections_before
    for bad in ({"conversation_id": "x"}, {"conversation_id": conversation_id, "answer": "yes"}, {}):
        assert (await call(anna, "/agent", "viewing", bad))["error"]["code"] == "invalid_input", bad
    for client in (anna, cara, visitor):
        await client.disconnect()


# --- parsers: only ever a value or InvalidInput ---------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=12) | st.dictionaries(st.text(max_size=16), inner, max_size=4),
    max_leaves=20,
)
shaped = st.fixed_dictionaries(
    {"conversation_id": st.sampled_from(["c" + "a" * 24, "x", 1]) | json_values},
    optional={
        "labels": st.lists(st.text(max_size=40), max_size=12) | json_values,
        "text": json_values,
        "answer": json_values,
        "status": json_values,
        "typing": json_values,
        "note": json_values,
    },
)


@given(shaped | json_values)
def test_console_parsers_only_ever_accept_or_refuse_with_a_code(payload: Any) -> None:
    others: list[Callable[[Any], object]] = [
        lambda p: parse_note(p, 4000),
        parse_viewing,
        parse_agent_status,
        parse_agent_typing,
    ]
    for parse in others:
        with contextlib.suppress(InvalidInput, TextTooLong):
            parse(payload)
    try:
        _, labels = parse_labels(payload)
    except InvalidInput:
        return
    assert len(labels) <= 10 and all(LABEL.fullmatch(label) for label in labels)


VISITOR_PATH = [
    "chat_service/sockets/visitor.py",
    "chat_service/web/routes.py",
    "chat_service/storage/conversations.py",
    "chat_service/storage/batches.py",
    "chat_service/storage/outbox.py",
    *[f"chat_service/pipeline/{name}" for name in ("__init__.py", "writer.py")],
    *[
        f"chat_service/outbox/{name}"
        for name in ("__init__.py", "endpoints.py", "events.py", "targets.py", "worker.py")
    ],
]


def test_no_module_on_the_visitor_or_outbox_path_can_reach_the_notes_collection() -> None:
    """The structural half of the proof: notes live in their own collection, and nothing the
    visitor, the outbox (webhooks, bots, e-mail) or the write pipeline runs names it or its module."""
    for path in VISITOR_PATH:
        text = (REPO / path).read_text()
        for needle in ("conversation_notes", "chat_service.notes", "storage.notes", ".notes", "NoteStore"):
            assert needle not in text, (path, needle)
