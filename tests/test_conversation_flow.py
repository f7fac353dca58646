"""Visitor ↔ agent over real sockets, against a real server process and SecantusDB."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import ServerProcess, agent_client, call, login, visitor_client, wait_for


async def test_connecting_and_leaving_stores_nothing(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server, headers={"User-Agent": "Canary-UA/1.0"})
    assert await call(visitor, "/visitor", "typing", {"typing": True}) == {"ok": True}
    await visitor.disconnect()
    db = server.db()
    counts = {name: db[name].count_documents({}) for name in db.list_collection_names()}
    assert all(count == 0 for count in counts.values()), counts
    assert "conversations" not in counts or counts["conversations"] == 0


async def test_visitor_agent_round_trip_is_live_and_persisted(server: ServerProcess, agent: tuple[str, str]) -> None:
    agent_sock, agent_events = await agent_client(server, await login(server, *agent))
    visitor, visitor_events = await visitor_client(server)

    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "Hallo, is er iemand?"})
    assert ack["ok"] is True
    conversation_id = ack["conversation_id"]
    assert ack["token"].startswith(conversation_id + ".")
    assert ack["message"]["id"] and ack["message"]["created_at"].endswith("Z")

    created = await agent_events.next("conversation_created")
    assert created["conversation"]["id"] == conversation_id
    assert created["message"]["text"] == "Hallo, is er iemand?"

    # Typing both ways.
    await call(visitor, "/visitor", "typing", {"typing": True})
    assert (await agent_events.next("typing")) == {
        "conversation_id": conversation_id,
        "typing": True,
        "from": "visitor",
    }
    await call(agent_sock, "/agent", "typing", {"conversation_id": conversation_id, "typing": True})
    assert (await visitor_events.next("typing")) == {"typing": True, "from": "agent"}

    reply = await call(
        agent_sock, "/agent", "reply", {"conversation_id": conversation_id, "client_id": "a1", "text": "Ja, zeker!"}
    )
    assert reply["ok"] is True
    live = await visitor_events.next("message")
    assert live["message"]["text"] == "Ja, zeker!"
    assert live["message"]["sender"] == "agent"
    assert "agent_id" not in live["message"]

    listed = await call(agent_sock, "/agent", "list", {"status": "open"})
    assert [c["id"] for c in listed["conversations"]] == [conversation_id]
    assert listed["conversations"][0]["message_count"] == 2

    opened = await call(agent_sock, "/agent", "open", {"conversation_id": conversation_id})
    assert [m["text"] for m in opened["messages"]] == ["Hallo, is er iemand?", "Ja, zeker!"]

    closed = await call(agent_sock, "/agent", "close", {"conversation_id": conversation_id})
    assert closed["conversation"]["status"] == "closed"
    assert (await visitor_events.next("conversation_status")) == {"status": "closed"}
    refused = await call(
        agent_sock, "/agent", "reply", {"conversation_id": conversation_id, "client_id": "a2", "text": "late"}
    )
    assert refused["error"]["code"] == "conversation_closed"

    # Persisted: a new agent connection sees the same history after the fact.
    db = server.db()
    assert db.messages.count_documents({"conversation_id": conversation_id}) == 2
    await visitor.disconnect()
    await agent_sock.disconnect()


async def test_visitor_writing_again_reopens_a_closed_conversation(
    server: ServerProcess, agent: tuple[str, str]
) -> None:
    agent_sock, agent_events = await agent_client(server, await login(server, *agent))
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "eerste"})
    await call(agent_sock, "/agent", "close", {"conversation_id": ack["conversation_id"]})
    await agent_events.next("conversation_updated")
    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "nog een vraag"})
    updated = await agent_events.next("conversation_updated")
    assert updated["conversation"]["status"] == "open"
    await visitor.disconnect()
    await agent_sock.disconnect()


async def test_resume_continues_the_conversation_with_history(server: ServerProcess) -> None:
    first, _ = await visitor_client(server)
    ack = await call(first, "/visitor", "message", {"client_id": "v1", "text": "een"})
    await first.disconnect()

    second, _ = await visitor_client(server)
    resumed = await call(second, "/visitor", "resume", {"token": ack["token"]})
    assert resumed["conversation_id"] == ack["conversation_id"]
    assert [m["text"] for m in resumed["messages"]] == ["een"]
    more = await call(second, "/visitor", "message", {"client_id": "v2", "text": "twee"})
    assert more["conversation_id"] == ack["conversation_id"]
    assert "token" not in more
    assert server.db().conversations.count_documents({}) == 1
    await second.disconnect()


async def test_a_resend_with_the_same_client_id_is_stored_once(server: ServerProcess, agent: tuple[str, str]) -> None:
    agent_sock, agent_events = await agent_client(server, await login(server, *agent))
    visitor, _ = await visitor_client(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "een"})
    await agent_events.next("conversation_created")
    again = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "een"})
    assert again["message"]["id"] == first["message"]["id"]
    second = await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "twee"})
    assert (await agent_events.next("message"))["message"]["id"] == second["message"]["id"]
    assert agent_events.pending("message") == 0  # the resend was not broadcast again

    reply = {"conversation_id": first["conversation_id"], "client_id": "a1", "text": "hoi"}
    assert (await call(agent_sock, "/agent", "reply", reply))["message"]["id"] == (
        await call(agent_sock, "/agent", "reply", reply)
    )["message"]["id"]
    db = server.db()
    assert db.messages.count_documents({}) == 3
    # The count is folded in behind the acks, once the writer is quiet (chat_service/pipeline/bookkeeping.py).
    wait_for(lambda: db.conversations.find_one()["message_count"] == 3, what="the count folded in")
    await visitor.disconnect()
    await agent_sock.disconnect()


async def test_two_visitors_are_isolated(server: ServerProcess, agent: tuple[str, str]) -> None:
    agent_sock, _ = await agent_client(server, await login(server, *agent))
    alice, alice_events = await visitor_client(server)
    bob, bob_events = await visitor_client(server)
    a = await call(alice, "/visitor", "message", {"client_id": "x", "text": "alice hier"})
    await call(bob, "/visitor", "message", {"client_id": "x", "text": "bob hier"})
    await call(
        agent_sock, "/agent", "reply", {"conversation_id": a["conversation_id"], "client_id": "r", "text": "voor alice"}
    )
    assert (await alice_events.next("message"))["message"]["text"] == "voor alice"
    await call(bob, "/visitor", "typing", {"typing": False})  # a round trip after the reply was sent
    assert bob_events.pending("message") == 0
    for client in (alice, bob, agent_sock):
        await client.disconnect()


@pytest.mark.parametrize("n", [20])
async def test_concurrent_visitors_all_stored(server: ServerProcess, n: int) -> None:
    clients = [await visitor_client(server) for _ in range(n)]
    acks = await asyncio.gather(
        *(
            call(c, "/visitor", "message", {"client_id": "v1", "text": f"bericht {i}"})
            for i, (c, _) in enumerate(clients)
        )
    )
    assert all(a["ok"] for a in acks)
    assert len({a["conversation_id"] for a in acks}) == n
    assert server.db().messages.count_documents({}) == n
    for c, _ in clients:
        await c.disconnect()


async def test_concurrent_first_messages_start_one_conversation(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server)
    acks = await asyncio.gather(
        *(call(visitor, "/visitor", "message", {"client_id": f"v{i}", "text": f"snel {i}"}) for i in range(5))
    )
    assert all(a["ok"] for a in acks)
    assert len({a["conversation_id"] for a in acks}) == 1
    assert sum("token" in a for a in acks) == 1
    assert server.db().conversations.count_documents({}) == 1
    wait_for(lambda: server.db().conversations.find_one()["message_count"] == 5, what="the count folded in")
    await visitor.disconnect()


async def test_a_resent_first_message_after_a_lost_ack_continues_the_same_conversation(
    server: ServerProcess, agent: tuple[str, str]
) -> None:
    agent_sock, agent_events = await agent_client(server, await login(server, *agent))
    first_client_id = "f" * 22 + "AbCdEf"
    lost, _ = await visitor_client(server)
    first = await call(lost, "/visitor", "message", {"client_id": first_client_id, "text": "eerste"})
    created = await agent_events.next("conversation_created")
    assert "client_id" not in created["message"]  # agents never learn a visitor's client ids
    await lost.disconnect()  # pretend that ack never arrived

    again, _ = await visitor_client(server)
    resent = await call(again, "/visitor", "message", {"client_id": first_client_id, "text": "eerste"})
    assert resent["conversation_id"] == first["conversation_id"]
    assert resent["message"]["id"] == first["message"]["id"]
    assert resent["token"] != first["token"]
    await call(again, "/visitor", "typing", {"typing": False})  # a round trip: no second announcement
    assert agent_events.pending("conversation_created") == 0
    db = server.db()
    assert db.conversations.count_documents({}) == 1 and db.messages.count_documents({}) == 1
    await again.disconnect()

    # Only the newest token resumes.
    third, _ = await visitor_client(server)
    assert (await call(third, "/visitor", "resume", {"token": first["token"]}))["ok"] is False
    assert (await call(third, "/visitor", "resume", {"token": resent["token"]}))["ok"] is True
    opened = await call(agent_sock, "/agent", "open", {"conversation_id": first["conversation_id"]})
    assert all("client_id" not in m for m in opened["messages"])
    await third.disconnect()
    await agent_sock.disconnect()


async def test_the_same_first_message_on_two_connections_at_once_starts_one_conversation(
    server: ServerProcess,
) -> None:
    a, _ = await visitor_client(server)
    b, _ = await visitor_client(server)
    payload = {"client_id": "racing-first-message-0123456789", "text": "dubbel"}
    acks = await asyncio.gather(call(a, "/visitor", "message", payload), call(b, "/visitor", "message", payload))
    assert all(ack["ok"] for ack in acks), acks
    assert acks[0]["conversation_id"] == acks[1]["conversation_id"]
    db = server.db()
    assert db.conversations.count_documents({}) == 1
    assert db.data_keys.count_documents({}) == 1
    await a.disconnect()
    await b.disconnect()
