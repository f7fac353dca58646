"""Opening a conversation is accounted for; any edit or deletion in the audit chain is detected."""

from __future__ import annotations

from tests.helpers import ServerProcess, agent_client, call, login, visitor_client

PASSWORD = "correct horse battery staple"


async def _open_conversations(server: ServerProcess, n: int) -> list[str]:
    server.create_user("auditor@example.eu", PASSWORD)
    agent, _ = await agent_client(server, await login(server, "auditor@example.eu", PASSWORD))
    ids = []
    for i in range(n):
        visitor, _ = await visitor_client(server)
        ack = await call(visitor, "/visitor", "message", {"client_id": "v", "text": f"vraag {i}"})
        await visitor.disconnect()
        assert (await call(agent, "/agent", "open", {"conversation_id": ack["conversation_id"]}))["ok"]
        ids.append(ack["conversation_id"])
    await agent.disconnect()
    return ids


async def test_opening_a_conversation_writes_an_audit_event(server: ServerProcess) -> None:
    ids = await _open_conversations(server, 2)
    events = list(server.db().audit_events.find({"action": "conversation.opened"}).sort("_id", 1))
    user = server.db().users.find_one({"email": "auditor@example.eu"})
    assert [(e["action"], e["target_id"], e["actor_id"]) for e in events] == [
        ("conversation.opened", ids[0], user["_id"]),
        ("conversation.opened", ids[1], user["_id"]),
    ]
    result = server.run_cli("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "intact: 4 events" in result.stdout  # the account created, the sign-in, then the two opened


async def test_editing_any_audit_event_breaks_verification(server: ServerProcess) -> None:
    await _open_conversations(server, 3)
    events = server.db().audit_events
    events.update_one({"_id": 2}, {"$set": {"actor_id": "someone-else"}})
    result = server.run_cli("audit", "verify")
    assert result.returncode == 1
    assert "event 2 was altered" in result.stderr


async def test_deleting_an_audit_event_breaks_verification(server: ServerProcess) -> None:
    await _open_conversations(server, 3)
    server.db().audit_events.delete_one({"_id": 2})
    result = server.run_cli("audit", "verify")
    assert result.returncode == 1
    assert "event 2 is missing" in result.stderr


async def test_recomputing_a_plain_hash_does_not_repair_the_chain(server: ServerProcess) -> None:
    """Without the HMAC key (kept off the database), a forger cannot re-seal an edited event."""
    import hashlib
    import json

    await _open_conversations(server, 2)
    events = server.db().audit_events
    first = events.find_one({"_id": 1})
    forged_mac = hashlib.sha256(json.dumps([first["_id"], "forged"]).encode()).hexdigest()
    events.update_one({"_id": 1}, {"$set": {"target_id": "c" + "0" * 24, "mac": forged_mac}})
    events.update_one({"_id": 2}, {"$set": {"prev_mac": forged_mac}})
    result = server.run_cli("audit", "verify")
    assert result.returncode == 1
    assert "event 1 was altered" in result.stderr
