"""A conversation that ends for its visitor (erased, deleted or forgotten) ends on every node at once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.helpers import (
    Recorder,
    SecantusProcess,
    ServerProcess,
    agent_client,
    call,
    login_full,
    visitor_client,
)
from tests.waiting import eventually

PASSWORD = "correct horse battery staple"
FIRST_CLIENT_ID = "first-message-client-id-0123456789"


async def admin_session(server: ServerProcess) -> tuple[str, str]:
    server.create_user("admin@example.eu", PASSWORD, role="admin")
    return await login_full(server, "admin@example.eu", PASSWORD)


async def erase_via_api(server: ServerProcess, cookie: str, csrf: str, conversation_id: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession(cookies={"chat_session": cookie}) as session:
        async with session.post(
            server.url + "/api/privacy/erase",
            json={"conversation_ids": [conversation_id], "confirm": "ERASE"},
            headers={"X-CSRF-Token": csrf},
        ) as resp:
            assert (resp.status, await resp.json()) == (200, {"erased": 1})


async def watched_visitor(server: ServerProcess) -> tuple[socketio.AsyncClient, Recorder]:
    client, recorder = await visitor_client(server)
    client.on("conversation_ended", recorder.handler("conversation_ended"), namespace="/visitor")
    return client, recorder


def stored(server: ServerProcess, conversation_id: str) -> dict[str, int]:
    db = server.db()
    return {
        "conversations": db.conversations.count_documents({"_id": conversation_id}),
        "messages": db.messages.count_documents({"conversation_id": conversation_id}),
        "data_keys": db.data_keys.count_documents({"_id": conversation_id}),
    }


NOTHING = {"conversations": 0, "messages": 0, "data_keys": 0}


async def test_erasing_via_the_api_ends_the_open_visitor_socket_and_nothing_more_is_stored(
    server: ServerProcess,
) -> None:
    cookie, csrf = await admin_session(server)
    agent, agent_events = await agent_client(server, cookie)
    visitor, visitor_events = await watched_visitor(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "wis mij"})
    await agent_events.next("conversation_created")
    assert (await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "nog iets"}))["ok"]
    await agent_events.next("message")
    conversation_id = first["conversation_id"]

    await erase_via_api(server, cookie, csrf, conversation_id)
    assert await visitor_events.next("conversation_ended") == {"reason": "erased"}
    await eventually(lambda: not visitor.connected, what="the erased conversation's socket to close")
    with pytest.raises(socketio.exceptions.SocketIOError):
        await call(visitor, "/visitor", "message", {"client_id": "v3", "text": "na het wissen"})

    # The token is dead too: coming back starts nothing and reveals nothing.
    again, _ = await visitor_client(server)
    resumed = await call(again, "/visitor", "resume", {"token": first["token"]})
    assert resumed["error"]["code"] == "invalid_token"
    assert stored(server, conversation_id) == NOTHING
    await call(agent, "/agent", "list", {"status": "open"})  # a round trip after anything could have come
    assert agent_events.pending("message") == 0
    await again.disconnect()
    await agent.disconnect()


@pytest.fixture
def slow_poll_server(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(secantus.uri, tmp_path / "slow", env_extra={"CHAT_ENDINGS_POLL_SECONDS": "600"}).start()
    yield proc
    proc.stop()


async def test_a_node_that_never_heard_of_the_erasure_still_stores_nothing(slow_poll_server: ServerProcess) -> None:
    server = slow_poll_server
    visitor, _ = await watched_visitor(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "wis mij"})
    assert (await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "key is cached"}))["ok"]
    conversation_id = first["conversation_id"]

    erased = server.run_cli("privacy", "erase", "--conversation", conversation_id, "--yes")
    assert erased.returncode == 0, erased.stderr

    # The server still holds the data key in memory and the socket open: the store path refuses.
    late = await call(visitor, "/visitor", "message", {"client_id": "v3", "text": "na het wissen"})
    assert late["ok"] is False
    assert late["error"]["code"] == "not_found"
    assert stored(server, conversation_id) == NOTHING
    await visitor.disconnect()


async def test_erasing_from_the_cli_closes_the_socket_on_the_running_server(
    server: ServerProcess, agent: tuple[str, str]
) -> None:
    agent_sock, agent_events = await agent_client(server, (await login_full(server, *agent))[0])
    visitor, visitor_events = await watched_visitor(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "wis mij"})
    await agent_events.next("conversation_created")

    erased = server.run_cli("privacy", "erase", "--conversation", first["conversation_id"], "--yes")
    assert erased.returncode == 0, erased.stderr
    assert await visitor_events.next("conversation_ended") == {"reason": "erased"}
    await eventually(lambda: not visitor.connected, what="the socket to close")
    await call(agent_sock, "/agent", "list", {"status": "open"})
    assert agent_events.pending("message") == 0
    assert stored(server, first["conversation_id"]) == NOTHING
    await agent_sock.disconnect()


async def test_retention_deletion_ends_the_open_visitor_socket(server: ServerProcess) -> None:
    visitor, visitor_events = await watched_visitor(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "lang geleden"})
    later = (datetime.now(UTC) + timedelta(days=200)).isoformat(timespec="minutes").replace("+00:00", "Z")
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "retention", "run", "--now", later],
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert await visitor_events.next("conversation_ended") == {"reason": "erased"}
    await eventually(lambda: not visitor.connected, what="the deleted conversation's socket to close")
    assert stored(server, first["conversation_id"]) == NOTHING


async def test_erasing_on_one_node_ends_the_visitor_socket_on_another(
    two_nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    node_a, node_b = two_nodes
    cookie, csrf = await admin_session(node_a)
    agent, agent_events = await agent_client(node_a, cookie)
    visitor, visitor_events = await watched_visitor(node_b)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "via node B"})
    await agent_events.next("conversation_created")

    await erase_via_api(node_a, cookie, csrf, first["conversation_id"])
    assert await visitor_events.next("conversation_ended") == {"reason": "erased"}
    await eventually(lambda: not visitor.connected, what="node B to close the socket")
    await call(agent, "/agent", "list", {"status": "open"})
    assert agent_events.pending("message") == 0
    assert stored(node_a, first["conversation_id"]) == NOTHING
    await agent.disconnect()


# --- forget this device ------------------------------------------------------------------------


async def test_resumed_history_withholds_the_first_messages_client_id(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server)
    first = await call(visitor, "/visitor", "message", {"client_id": FIRST_CLIENT_ID, "text": "een"})
    await call(visitor, "/visitor", "message", {"client_id": "second-message", "text": "twee"})
    await visitor.disconnect()

    other, _ = await visitor_client(server)
    resumed = await call(other, "/visitor", "resume", {"token": first["token"]})
    messages: list[dict[str, Any]] = resumed["messages"]
    assert [m["text"] for m in messages] == ["een", "twee"]
    assert "client_id" not in messages[0] and messages[0]["id"] == first["message"]["id"]
    assert messages[1]["client_id"] == "second-message"
    assert FIRST_CLIENT_ID not in str(resumed)
    await other.disconnect()


async def test_forget_closes_the_conversation_tells_agents_and_cannot_be_undone(
    server: ServerProcess, agent: tuple[str, str]
) -> None:
    agent_sock, agent_events = await agent_client(server, (await login_full(server, *agent))[0])
    visitor, _ = await visitor_client(server)
    other_tab, other_events = await watched_visitor(server)
    first = await call(visitor, "/visitor", "message", {"client_id": FIRST_CLIENT_ID, "text": "geheim"})
    conversation_id = first["conversation_id"]
    await agent_events.next("conversation_created")
    await call(agent_sock, "/agent", "claim", {"conversation_id": conversation_id})
    await agent_events.next("conversation_updated")
    assert (await call(other_tab, "/visitor", "resume", {"token": first["token"]}))["ok"]

    assert await call(visitor, "/visitor", "forget", {}) == {"ok": True}
    left = (await agent_events.next("conversation_updated"))["conversation"]
    assert (left["id"], left["status"], left["visitor_left"]) == (conversation_id, "closed", True)
    # The same device's other tab on that conversation is let go as well.
    assert await other_events.next("conversation_ended") == {"reason": "forgotten"}
    await visitor.disconnect()

    # Someone who learnt the first message's client id cannot bring the conversation back.
    attacker, _ = await visitor_client(server)
    resent = await call(attacker, "/visitor", "message", {"client_id": FIRST_CLIENT_ID, "text": "geheim"})
    assert resent["ok"] is True
    assert resent["conversation_id"] != conversation_id  # a new, empty conversation of its own
    assert resent["message"]["id"] != first["message"]["id"]
    history = await call(attacker, "/visitor", "resume", {"token": resent["token"]})
    assert [m["id"] for m in history["messages"]] == [resent["message"]["id"]]
    assert (await call(attacker, "/visitor", "resume", {"token": first["token"]}))["error"]["code"] == "invalid_token"
    stored_conv = server.db().conversations.find_one({"_id": conversation_id})
    assert stored_conv is not None
    assert "first_client_hash" not in stored_conv and stored_conv["resume_token_hash"] == ""
    await attacker.disconnect()
    await agent_sock.disconnect()
