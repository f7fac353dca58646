"""The write pipeline (group commit) against a real SecantusDB: batching, duplicates, reopening,
failed batches, and the overload answer of a real server."""

from __future__ import annotations

import asyncio
import secrets
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import socketio

from chat_service.errors import Overloaded, StorageUnavailable
from chat_service.models import Conversation, Message, Sender
from chat_service.pipeline import Pending, WritePipeline
from chat_service.storage import Database
from chat_service.storage.database import make_client
from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client
from tests.waiting import eventually

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def message(conversation_id: str, client_id: str, sender: Sender = "visitor", at: datetime = T0) -> Message:
    return Message(
        id="m" + secrets.token_hex(12),
        conversation_id=conversation_id,
        sender=sender,
        client_id=client_id,
        created_at=at,
        text=b"ciphertext " + client_id.encode(),
        text_length=10,
    )


async def new_conversation(db: Database, status: str = "open") -> str:
    conversation_id = "c" + secrets.token_hex(12)
    conv = Conversation(
        id=conversation_id,
        status="closed" if status == "closed" else "open",
        created_at=T0,
        last_activity_at=T0,
        resume_token_hash="x",
        resume_expires_at=T0 + timedelta(days=30),
        message_count=0,
        closed_at=T0 if status == "closed" else None,
    )
    assert await db.conversations.insert(conv)
    return conversation_id


async def outcome(pending: Pending) -> tuple[str, bool, Conversation | None]:
    stored = await pending.stored
    return stored.message.id, stored.is_new, await pending.done


async def test_concurrent_messages_are_written_in_few_batches(db: Database) -> None:
    pipeline = WritePipeline(db)
    pipeline.start()
    conversations = [await new_conversation(db) for _ in range(20)]

    async def visitor(index: int) -> list[str]:
        ids = []
        for n in range(10):
            pending = pipeline.submit(message(conversations[index], f"k{n}", at=T0 + timedelta(seconds=n)), reopen=True)
            message_id, is_new, _ = await outcome(pending)
            assert is_new
            ids.append(message_id)
        return ids

    acked = await asyncio.gather(*(visitor(i) for i in range(len(conversations))))
    await pipeline.stop()

    assert pipeline.batches < 200 / 2, "200 concurrent messages should share batches"
    assert pipeline.largest_batch > 1
    stored = {doc["_id"] async for doc in db.db.messages.find({}, {"_id": 1})}
    assert stored == {m for ids in acked for m in ids}
    async for conv in db.db.conversations.find():
        assert conv["message_count"] == 10
        assert conv["last_activity_at"] == T0 + timedelta(seconds=9)


async def test_duplicates_in_a_batch_answer_with_the_earlier_message(db: Database) -> None:
    pipeline = WritePipeline(db)
    pipeline.start()
    conv = await new_conversation(db)
    first_id, is_new, _ = await outcome(pipeline.submit(message(conv, "a"), reopen=True))
    assert is_new

    # One batch (queued in one go): a resend of "a" (the unique index refuses it), a new "b",
    # two copies of a new "c" (two tabs), and "a" again from the agent side (another sender).
    batch = [
        pipeline.submit(message(conv, "a"), reopen=True),
        pipeline.submit(message(conv, "b"), reopen=True),
        pipeline.submit(message(conv, "c"), reopen=True),
        pipeline.submit(message(conv, "c"), reopen=True),
        pipeline.submit(message(conv, "a", sender="agent"), reopen=False),
    ]
    results = [await outcome(p) for p in batch]
    await pipeline.stop()

    assert results[0][:2] == (first_id, False)
    assert results[1][1] is True
    assert results[2][1] is True and results[3][:2] == (results[2][0], False)
    assert results[4][1] is True
    assert pipeline.batches == 2
    assert await db.db.messages.count_documents({}) == 4
    stored = await db.conversations.get(conv)
    assert stored is not None and stored.message_count == 4


async def test_a_visitor_message_reopens_its_closed_conversation_in_its_own_batch(db: Database) -> None:
    pipeline = WritePipeline(db)
    pipeline.start()
    closed_a, closed_b, still_open = (
        await new_conversation(db, "closed"),
        await new_conversation(db, "closed"),
        await new_conversation(db),
    )
    batch = [
        pipeline.submit(message(closed_a, "x1"), reopen=True),
        pipeline.submit(message(closed_a, "x2", at=T0 + timedelta(seconds=1)), reopen=True),
        pipeline.submit(message(still_open, "y"), reopen=True),
        pipeline.submit(message(closed_b, "z", sender="agent"), reopen=False),
    ]
    results = [await outcome(p) for p in batch]
    await pipeline.stop()

    reopened = results[0][2]
    assert reopened is not None and reopened.id == closed_a and reopened.status == "open"
    assert reopened.closed_at is None and reopened.message_count == 2
    assert [r[2] for r in results[1:]] == [None, None, None]
    assert pipeline.batches == 1
    b = await db.conversations.get(closed_b)
    assert b is not None and b.status == "closed", "an agent's message does not reopen"


async def test_a_failed_batch_fails_only_its_own_messages(tmp_path: Path) -> None:
    database = SecantusProcess(tmp_path / "db").start()
    db = Database(make_client(database.uri, 1000, pool_size=4), "failing")
    try:
        await db.ensure_indexes()
        pipeline = WritePipeline(db, max_wait_s=0.2)
        pipeline.start()
        conv = await new_conversation(db)
        before = [await outcome(pipeline.submit(message(conv, f"a{n}"), reopen=True)) for n in range(3)]

        database.kill()
        failed = [pipeline.submit(message(conv, f"b{n}"), reopen=True) for n in range(3)]
        # While that batch hangs on the dead database, new messages are refused at once once it
        # has taken longer than the limit, instead of piling up behind it.
        probes: list[Pending] = []
        refusal = None
        deadline = asyncio.get_running_loop().time() + 30
        while refusal is None and not failed[0].stored.done():
            assert asyncio.get_running_loop().time() < deadline
            try:
                probes.append(pipeline.submit(message(conv, f"probe{len(probes)}"), reopen=True))
            except Overloaded as exc:
                refusal = exc
            await asyncio.sleep(0.02)
        assert refusal is not None and refusal.retry_after >= 1
        for pending in failed + probes:  # the probes let in before the limit fail with the database
            with pytest.raises(StorageUnavailable):
                await pending.stored

        database.start()  # same storage and port: the pipeline carries on
        after = [await outcome(pipeline.submit(message(conv, f"c{n}"), reopen=True)) for n in range(3)]
        await pipeline.stop()

        stored = {doc["client_id"] async for doc in db.db.messages.find()}
        assert stored == {"a0", "a1", "a2", "c0", "c1", "c2"}
        assert all(is_new for _, is_new, _ in before + after)
        conv_doc = await db.conversations.get(conv)
        assert conv_doc is not None and conv_doc.message_count == 6
    finally:
        await db.close()
        database.stop()


async def test_an_overloaded_server_refuses_with_retry_after_and_loses_no_acked_message(
    secantus: SecantusProcess, tmp_path: Path
) -> None:
    server = ServerProcess(
        secantus.uri,
        tmp_path / "server",
        env_extra={
            "CHAT_WRITE_QUEUE_MAX_WAIT_MS": "1",
            "CHAT_LOG_LEVEL": "INFO",
            # Up to 10 rounds of 15 per visitor: the per-visitor limit must not answer first.
            "CHAT_LIMIT_MESSAGES_PER_MINUTE": "1000",
        },
    ).start()
    try:
        clients = [(await visitor_client(server))[0] for _ in range(12)]
        for index, client in enumerate(clients):
            first = await call(client, "/visitor", "message", {"client_id": f"first{index}", "text": "hallo"})
            while not first["ok"]:  # the limit is tiny: even a first message may be refused
                assert first["error"]["details"]["retry_after"] >= 1
                first = await call(client, "/visitor", "message", {"client_id": f"first{index}", "text": "hallo"})

        acked: set[str] = set()
        refused: list[dict[str, object]] = []

        async def burst(client_index: int, round_: int) -> None:
            client = clients[client_index]
            sends = [
                call(client, "/visitor", "message", {"client_id": f"r{round_}-{n}", "text": f"v{client_index}"})
                for n in range(15)
            ]
            for ack in await asyncio.gather(*sends):
                if ack["ok"]:
                    acked.add(ack["message"]["id"])
                else:
                    refused.append(ack["error"])

        for round_ in range(10):  # bounded: overload shows up in the first rounds on any machine
            await asyncio.gather(*(burst(i, round_) for i in range(len(clients))))
            if refused and acked:
                break
        for client in clients:
            await client.disconnect()
    finally:
        server.stop()

    assert refused, "a 1 ms queue limit under a burst must refuse some messages"
    assert acked, "and still store others"
    for error in refused:
        assert error["code"] == "unavailable"
        details = error["details"]
        assert isinstance(details, dict) and isinstance(details["retry_after"], int) and details["retry_after"] >= 1
    stored = {doc["_id"] for doc in server.db().messages.find({"sender": "visitor"}, {"_id": 1})}
    assert acked <= stored
    # A refused first message stores nothing: one conversation per visitor, each with its message.
    db = server.db()
    conversations = [c["_id"] for c in db.conversations.find({}, {"_id": 1})]
    assert len(conversations) == len(clients)
    assert all(
        db.messages.count_documents({"conversation_id": c, "client_id": {"$regex": "^first"}}) == 1
        for c in conversations
    )
    assert "write_pipeline_stopped" in server.logs()


def test_overloaded_is_an_unavailable_answer_with_retry_after() -> None:
    error = Overloaded(3)
    assert error.to_wire()["code"] == "unavailable"
    assert error.to_wire()["details"] == {"retry_after": 3}


async def test_shutdown_stores_and_acknowledges_what_was_queued(server: ServerProcess) -> None:
    clients = [(await visitor_client(server))[0] for _ in range(8)]
    for index, client in enumerate(clients):
        assert (await call(client, "/visitor", "message", {"client_id": f"f{index}", "text": "hallo"}))["ok"]
    acked: set[str] = set()
    answered = 0

    async def send(client_index: int, n: int) -> None:
        nonlocal answered
        try:
            ack = await call(clients[client_index], "/visitor", "message", {"client_id": f"s{n}", "text": "bye"})
        except (TimeoutError, socketio.exceptions.SocketIOError):
            return  # the socket closed first: nothing was promised
        answered += 1
        if ack["ok"]:
            acked.add(ack["message"]["id"])
        else:
            assert ack["error"]["code"] == "unavailable"

    sends = [asyncio.create_task(send(i, n)) for i in range(len(clients)) for n in range(10)]
    await eventually(lambda: answered >= 8, what="the first answers")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)  # mid-burst: the rest is queued or on its way
    await asyncio.gather(*sends)
    server.proc.wait(30)

    # Every message of the burst that reached the database was acknowledged to its sender.
    stored = {doc["_id"] for doc in server.db().messages.find({"client_id": {"$regex": "^s"}}, {"_id": 1})}
    assert acked and stored == acked
    assert "write_pipeline_stopped" in server.logs()
