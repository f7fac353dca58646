"""Personal data never reaches the database, its files or the logs in plaintext."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bson

from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, login, visitor_client

CANARIES = {
    "text": "CANARY-TEXT-Mijn IBAN is NL91ABNA0417164300",
    "name": "Canary Jansen-de Vries",
    "email": "canary.jansen@voorbeeld.nl",
    "ip": "203.0.113.77",
    "user_agent": "CanaryBrowser/9.9",
    "page_url": "https://shop.example.eu/cart?canary=page-url-secret",
    "reply": "CANARY-REPLY-uw pakket komt morgen",
}


def _variants(value: str) -> list[bytes]:
    return [value.encode(), value.encode("utf-16-le"), value.lower().encode()]


async def _send_canaries(server: ServerProcess) -> dict[str, Any]:
    server.create_user("privacy@example.eu", "correct horse battery staple")
    agent, _ = await agent_client(server, await login(server, "privacy@example.eu", "correct horse battery staple"))
    visitor, _ = await visitor_client(
        server, headers={"X-Forwarded-For": CANARIES["ip"], "User-Agent": CANARIES["user_agent"]}
    )
    ack = await call(
        visitor,
        "/visitor",
        "message",
        {
            "client_id": "v1",
            "text": CANARIES["text"],
            "profile": {"name": CANARIES["name"], "email": CANARIES["email"], "page_url": CANARIES["page_url"]},
        },
    )
    assert ack["ok"], ack
    reply = {"conversation_id": ack["conversation_id"], "client_id": "a1", "text": CANARIES["reply"]}
    assert (await call(agent, "/agent", "reply", reply))["ok"]
    opened = await call(agent, "/agent", "open", {"conversation_id": ack["conversation_id"]})
    await visitor.disconnect()
    await agent.disconnect()
    return opened


async def test_raw_documents_and_logs_hold_no_canary(secantus: SecantusProcess, tmp_path: Path) -> None:
    server = ServerProcess(secantus.uri, tmp_path / "s", env_extra={"CHAT_TRUST_PROXY": "true"}).start()
    try:
        opened = await _send_canaries(server)
        # The agent sees the decrypted data; the store never held it in clear.
        visitor = opened["conversation"]["visitor"]
        assert visitor["name"] == CANARIES["name"] and visitor["email"] == CANARIES["email"]
        assert visitor["user_agent"] == CANARIES["user_agent"]
        assert [m["text"] for m in opened["messages"]] == [CANARIES["text"], CANARIES["reply"]]

        db = server.db()
        raw = b"".join(bson.encode(doc) for name in db.list_collection_names() for doc in db[name].find())
        assert raw, "expected stored documents"
        for label, value in CANARIES.items():
            for variant in _variants(value):
                assert variant not in raw, f"{label} found in plaintext in the database"
        conversation = db.conversations.find_one()
        assert set(conversation["visitor"]) == {"name", "email", "page_url", "ip", "user_agent"}
        assert all(isinstance(v, bytes) for v in conversation["visitor"].values())
    finally:
        server.stop()
    log_lines = [line for line in server.logs().splitlines() if line.startswith("{")]  # not the banner
    logs = "\n".join(log_lines)
    assert "socket_event" in logs and "http_request" in logs  # logs were captured at DEBUG
    for label, value in CANARIES.items():
        assert value not in logs, f"{label} leaked into the logs"
    # Nor the IP of the connection itself; only the server's own configuration (its database node,
    # on the same loopback address in this test) names an address.
    visitor_lines = [line for line in log_lines if '"event": "residency_verified"' not in line]
    assert "127.0.0.1" not in "\n".join(visitor_lines)


async def test_database_files_hold_no_canary_after_stop(tmp_path: Path) -> None:
    database = SecantusProcess(tmp_path / "own-db").start()
    server = ServerProcess(database.uri, tmp_path / "s", env_extra={"CHAT_TRUST_PROXY": "true"}).start()
    try:
        await _send_canaries(server)
    finally:
        server.stop()
        database.stop()
    files = [p for p in (tmp_path / "own-db").rglob("*") if p.is_file()]
    assert files
    blob = b"".join(p.read_bytes() for p in files)
    assert b"correct horse" not in blob  # argon2 hash only
    for label, value in CANARIES.items():
        for variant in _variants(value):
            assert variant not in blob, f"{label} found in the database files"


async def test_ciphertext_moved_to_another_message_does_not_decrypt(server: ServerProcess) -> None:
    server.create_user("mover@example.eu", "correct horse battery staple")
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "eerste geheim"})
    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "tweede bericht"})
    await visitor.disconnect()

    db = server.db()
    first, second = db.messages.find({"conversation_id": ack["conversation_id"]}).sort("created_at", 1)
    db.messages.update_one({"_id": second["_id"]}, {"$set": {"text": first["text"]}})
    conv = db.conversations.find_one()
    # Visitor's e-mail field ciphertext pasted into the name field of the same record.
    db.conversations.update_one({"_id": conv["_id"]}, {"$set": {"visitor.name": conv["visitor"]["ip"]}})

    agent, _ = await agent_client(server, await login(server, "mover@example.eu", "correct horse battery staple"))
    opened = await call(agent, "/agent", "open", {"conversation_id": ack["conversation_id"]})
    await agent.disconnect()
    texts = [(m["text"], m.get("unreadable", False)) for m in opened["messages"]]
    assert texts == [("eerste geheim", False), ("", True)]
    assert opened["conversation"]["visitor"]["name"] == "[unreadable]"
    assert "message_unreadable" in server.logs()
