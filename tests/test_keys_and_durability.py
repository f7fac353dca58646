"""Key rotation keeps old messages readable; acknowledged messages survive a database SIGKILL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, login, visitor_client

PASSWORD = "correct horse battery staple"


async def _open_texts(server: ServerProcess, conversation_id: str, email: str) -> list[str]:
    agent, _ = await agent_client(server, await login(server, email, PASSWORD))
    opened = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
    await agent.disconnect()
    assert opened["ok"], opened
    return [m["text"] for m in opened["messages"]]


async def test_key_rotation_keeps_old_messages_readable(server: ServerProcess) -> None:
    server.create_user("rot@example.eu", PASSWORD)
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "voor de rotatie"})
    key_file = server.workdir / "master.keys"
    old_id = json.loads(key_file.read_text())["active"]

    result = server.run_cli("keys", "rotate")
    assert result.returncode == 0, result.stderr
    ring = json.loads(key_file.read_text())
    new_id = ring["active"]
    assert new_id != old_id and set(ring["keys"]) == {old_id, new_id}
    assert {d["master_key_id"] for d in server.db().data_keys.find()} == {new_id}
    assert key_file.stat().st_mode & 0o777 == 0o600

    # The running server picks up the new key ring; old and new messages read fine.
    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "na de rotatie"})
    fresh, _ = await visitor_client(server)
    other = await call(fresh, "/visitor", "message", {"client_id": "v1", "text": "nieuw gesprek"})
    assert await _open_texts(server, ack["conversation_id"], "rot@example.eu") == ["voor de rotatie", "na de rotatie"]

    # Without the old master key, everything is still readable: nothing depends on it any more.
    server.stop()
    del ring["keys"][old_id]
    key_file.write_text(json.dumps(ring))
    server.start()
    assert await _open_texts(server, ack["conversation_id"], "rot@example.eu") == ["voor de rotatie", "na de rotatie"]
    assert await _open_texts(server, other["conversation_id"], "rot@example.eu") == ["nieuw gesprek"]
    await visitor.disconnect()
    await fresh.disconnect()


async def test_acknowledged_messages_survive_sigkill_of_the_database(tmp_path: Path) -> None:
    database = SecantusProcess(tmp_path / "db").start()
    server = ServerProcess(
        database.uri, tmp_path / "s", env_extra={"CHAT_MONGODB_TIMEOUT_MS": "2000", "CHAT_LOG_LEVEL": "INFO"}
    ).start()
    acked: dict[str, str] = {}
    killed = asyncio.Event()
    try:
        clients = [(await visitor_client(server))[0] for _ in range(8)]

        async def burst(index: int) -> None:
            client = clients[index]
            for n in range(200):
                try:
                    ack = await call(client, "/visitor", "message", {"client_id": f"m{n}", "text": f"v{index}-{n}"})
                except TimeoutError:
                    continue
                if ack.get("ok"):
                    acked[ack["message"]["id"]] = f"v{index}-{n}"
                elif killed.is_set():
                    return  # the database is gone: every further send is refused, not acked
                if len(acked) >= 150 and not killed.is_set():
                    killed.set()
                    database.kill()

        await asyncio.gather(*(burst(i) for i in range(len(clients))))
        assert killed.is_set(), "the burst ended before the kill"
        for client in clients:
            await client.disconnect()
    finally:
        server.stop()
    database.start()  # same storage path and port
    try:
        stored = {doc["_id"] for doc in database.client()[server.database].messages.find({}, {"_id": 1})}
    finally:
        database.stop()
    missing = set(acked) - stored
    assert len(acked) >= 150
    assert not missing, f"{len(missing)} of {len(acked)} acknowledged messages were lost"
