"""Conversations' counters and clocks are folded in behind the messages (pipeline/bookkeeping.py):
what agents and retention read stays right, across nodes and across a crash."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import socketio

from chat_service.pipeline import WritePipeline
from chat_service.pipeline.bookkeeping import Bookkeeping
from chat_service.storage import Database
from chat_service.storage.batches import Activity
from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, login, visitor_client
from tests.test_write_pipeline import T0, message, new_conversation, outcome
from tests.waiting import eventually


async def test_the_node_that_stored_a_message_counts_it_at_once_and_folds_it_in(db: Database) -> None:
    pipeline = WritePipeline(db, bookkeeping_interval_s=600)
    pipeline.start()
    conv = await new_conversation(db)
    results = [
        await outcome(pipeline.submit(message(conv, f"k{n}", at=T0 + timedelta(seconds=n)), reopen=True))
        for n in range(3)
    ]
    stored = await db.conversations.get(conv)
    assert stored is not None
    seen = pipeline.overlay(stored)  # whatever has been folded in by now, the sum is the same
    assert seen.message_count == 3
    assert seen.last_message_id == results[-1][0]
    assert seen.last_activity_at == T0 + timedelta(seconds=2)

    await pipeline.fold_now()
    folded = await db.conversations.get(conv)
    assert folded is not None and folded.message_count == 3 and folded.last_message_id == results[-1][0]
    assert pipeline.overlay(folded) == folded, "nothing is counted twice once folded in"
    await pipeline.stop()


async def test_folds_from_two_nodes_in_either_order_keep_the_newest_message(db: Database) -> None:
    one, two = WritePipeline(db, bookkeeping_interval_s=600), WritePipeline(db, bookkeeping_interval_s=600)
    one.start()
    two.start()
    conv = await new_conversation(db)
    older, _, _ = await outcome(one.submit(message(conv, "visitor", at=T0 + timedelta(seconds=1)), reopen=True))
    newer, _, _ = await outcome(
        two.submit(message(conv, "agent", sender="agent", at=T0 + timedelta(seconds=2)), reopen=False)
    )
    await two.fold_now()  # the newer message's node folds first...
    await one.fold_now()  # ...and the older one's fold lands after it
    stored = await db.conversations.get(conv)
    assert stored is not None
    assert stored.message_count == 2
    assert stored.last_message_id == newer != older
    assert stored.last_activity_at == T0 + timedelta(seconds=2)
    assert stored.first_response_at == T0 + timedelta(seconds=2)
    await one.stop()
    await two.stop()


async def test_a_visitor_message_to_a_closed_conversation_reopens_it_before_the_ack(db: Database) -> None:
    pipeline = WritePipeline(db, bookkeeping_interval_s=600)
    pipeline.start()
    conv = await new_conversation(db, "closed")
    _, is_new, reopened = await outcome(pipeline.submit(message(conv, "back"), reopen=True))
    assert is_new and reopened is not None and reopened.status == "open"
    stored = await db.conversations.get(conv)
    assert stored is not None and stored.status == "open" and stored.message_count == 1
    await pipeline.stop()


async def test_retention_keeps_a_conversation_whose_new_message_is_not_folded_in_yet(db: Database) -> None:
    conv = await new_conversation(db)  # last activity T0 in the stored document
    await db.batches.insert_messages([message(conv, "late", at=T0 + timedelta(days=200))])
    deleted = await db.retention.delete_conversations([conv], inactive_before=T0 + timedelta(days=180))
    assert deleted == 0
    assert await db.conversations.get(conv) is not None
    assert await db.db.messages.count_documents({"conversation_id": conv}) == 1


@pytest.fixture
async def crash_server(secantus: SecantusProcess, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(
        secantus.uri,
        tmp_path / "server",
        # Nothing is folded in while messages keep coming: the kill finds it all unfolded.
        env_extra={"CHAT_BOOKKEEPING_INTERVAL_MS": "600000", "CHAT_LIMIT_MESSAGES_PER_MINUTE": "1000"},
    ).start()
    yield server
    server.stop()


async def test_counts_lost_with_a_killed_node_are_recounted_at_the_next_start(crash_server: ServerProcess) -> None:
    server = crash_server
    visitor, _ = await visitor_client(server)
    first = await call(visitor, "/visitor", "message", {"client_id": "first", "text": "hallo"})
    conversation_id = first["conversation_id"]
    acked: set[str] = {first["message"]["id"]}
    stop = asyncio.Event()

    async def keep_writing() -> None:
        # One message after another keeps the writer from going quiet (it folds when quiet).
        n = 0
        while not stop.is_set():
            ack = await call(visitor, "/visitor", "message", {"client_id": f"m{n}", "text": f"tekst {n}"})
            assert ack["ok"], ack
            acked.add(ack["message"]["id"])
            n += 1

    writer = asyncio.create_task(keep_writing())
    await eventually(lambda: len(acked) >= 20, what="20 messages acknowledged")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    stop.set()
    writer.cancel()  # an ack in flight never comes: no need to wait for its timeout
    with contextlib.suppress(asyncio.CancelledError, TimeoutError, socketio.exceptions.SocketIOError):
        await writer
    server.proc.wait(10)
    await visitor.disconnect()

    db = server.db()
    stored = {doc["_id"] for doc in db.messages.find({"conversation_id": conversation_id}, {"_id": 1})}
    assert acked <= stored
    newest = db.messages.find_one({"conversation_id": conversation_id}, sort=[("created_at", -1)])
    assert newest is not None
    before = db.conversations.find_one({"_id": conversation_id})
    assert before is not None and before["message_count"] < len(stored), "the kill lost unfolded counts"

    server.start()  # the same database: the new process recounts from the messages
    after = db.conversations.find_one({"_id": conversation_id})
    assert after is not None
    assert after["message_count"] == len(stored)
    assert after["last_message"]["id"] == newest["_id"]
    assert after["last_activity_at"] == newest["created_at"]

    server.create_user("bookkeeping@example.eu", "correct horse battery staple")
    cookie = await login(server, "bookkeeping@example.eu", "correct horse battery staple")
    agent, _ = await agent_client(server, cookie)
    listed = await call(agent, "/agent", "list", {"status": "open"})
    row = next(c for c in listed["conversations"] if c["id"] == conversation_id)
    assert row["message_count"] == len(stored)
    await agent.disconnect()


def test_a_failed_fold_keeps_its_changes_and_merges_them_with_newer_ones() -> None:
    book = Bookkeeping(interval_s=10)
    book.add([Activity("c1", 2, "m2", T0 + timedelta(seconds=2), None, T0 + timedelta(seconds=1))], now=0)
    taken = book.take(10)
    assert len(book) == 0 and book.in_flight(["c1"])
    book.add([Activity("c1", 1, "m3", T0 + timedelta(seconds=3))], now=1)  # arrives while folding
    book.settled(taken, written=False, now=2)  # the database refused: nothing may be lost
    assert not book.in_flight(["c1"])
    (kept,) = book.take(10)
    assert kept.count == 3 and kept.last_message_id == "m3" and kept.last_at == T0 + timedelta(seconds=3)
    assert kept.first_agent_at == T0 + timedelta(seconds=1)
    assert not book.overdue(now=100), "nothing left"
