"""Abuse limits on the public visitor endpoint: a script is stopped, a person never notices."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from chat_service.limits import SlidingWindow
from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client
from tests.waiting import eventually

LOW_LIMITS = {
    "CHAT_TRUST_PROXY": "true",  # each test speaks from its own address (X-Forwarded-For)
    "CHAT_LIMIT_MESSAGES_PER_MINUTE": "5",
    "CHAT_LIMIT_TYPING_PER_SECOND": "3",
    "CHAT_LIMIT_CONNECTIONS_PER_ADDRESS": "4",
    "CHAT_LIMIT_CONVERSATIONS_PER_HOUR": "3",
}
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, secantus: SecantusProcess) -> Iterator[ServerProcess]:
    proc = ServerProcess(secantus.uri, tmp_path_factory.mktemp("limited"), env_extra=LOW_LIMITS).start()
    yield proc
    proc.stop()


def new_address() -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{next(_addresses)}"}


def retry_after(ack: dict[str, Any]) -> int:
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == "rate_limited", ack
    value = ack["error"]["details"]["retry_after"]
    assert isinstance(value, int)
    return value


def test_a_sliding_window_allows_the_limit_then_says_when_to_retry() -> None:
    now = [100.0]
    window = SlidingWindow(2, 60.0, clock=lambda: now[0])
    assert window.hit() is None
    now[0] = 130.0
    assert window.hit() is None
    assert window.hit() == 30  # the first hit leaves the window at 160
    now[0] = 160.0
    assert window.hit() is None


async def test_messages_per_connection_per_minute(limited: ServerProcess) -> None:
    address = new_address()
    visitor, _ = await visitor_client(limited, headers=address)
    acks = [await call(visitor, "/visitor", "message", {"client_id": f"m{i}", "text": f"spam {i}"}) for i in range(6)]
    assert all(ack["ok"] for ack in acks[:5])
    assert 1 <= retry_after(acks[5]) <= 60
    conversation_id = acks[0]["conversation_id"]
    assert limited.db().messages.count_documents({"conversation_id": conversation_id}) == 5

    # Per connection: another connection of the same visitor is not held back by this one.
    other, _ = await visitor_client(limited, headers=address)
    assert (await call(other, "/visitor", "message", {"client_id": "x", "text": "hallo"}))["ok"]
    for client in (visitor, other):
        await client.disconnect()


async def test_typing_events_per_second(limited: ServerProcess) -> None:
    visitor, _ = await visitor_client(limited, headers=new_address())
    acks = await asyncio.gather(*(call(visitor, "/visitor", "typing", {"typing": i % 2 == 0}) for i in range(4)))
    assert sum(ack["ok"] for ack in acks) == 3
    assert retry_after(next(ack for ack in acks if not ack["ok"])) == 1
    await visitor.disconnect()


async def connect(server: ServerProcess, headers: dict[str, str]) -> socketio.AsyncClient | dict[str, Any]:
    """A connected client, or the refusal's data."""
    client = socketio.AsyncClient(reconnection=False)
    refusal: dict[str, Any] = {}

    async def refused(data: Any = None) -> None:
        refusal.update(data if isinstance(data, dict) else {"raw": data})

    client.on("connect_error", refused, namespace="/visitor")
    try:
        await client.connect(server.url, namespaces=["/visitor"], transports=["websocket"], headers=headers)
    except socketio.exceptions.ConnectionError:
        return refusal
    return client


async def test_concurrent_connections_per_address(limited: ServerProcess) -> None:
    address = new_address()
    held = [await connect(limited, address) for _ in range(4)]
    assert all(isinstance(c, socketio.AsyncClient) for c in held)
    refused = await connect(limited, address)
    assert isinstance(refused, dict), "a fifth connection from one address was accepted"
    assert refused["data"]["code"] == "rate_limited" and refused["data"]["details"]["retry_after"] > 0

    elsewhere = await connect(limited, new_address())
    assert isinstance(elsewhere, socketio.AsyncClient)

    first = held[0]
    assert isinstance(first, socketio.AsyncClient)
    await first.disconnect()

    async def slot_freed() -> bool:
        again = await connect(limited, address)
        if isinstance(again, socketio.AsyncClient):
            held[0] = again
            return True
        return False

    await eventually(slot_freed, what="the closed connection's slot to be freed")
    for client in [*held, elsewhere]:
        if isinstance(client, socketio.AsyncClient):
            await client.disconnect()


async def test_new_conversations_per_address_per_hour(limited: ServerProcess) -> None:
    address = new_address()
    before = limited.db().conversations.count_documents({})
    acks = []
    for i in range(4):
        visitor, _ = await visitor_client(limited, headers=address)
        acks.append(
            await call(
                visitor,
                "/visitor",
                "message",
                {"client_id": f"c{i}", "text": "hallo", "profile": {"name": f"Bot {i}", "email": f"b{i}@x.eu"}},
            )
        )
        await visitor.disconnect()
    assert all(ack["ok"] for ack in acks[:3])
    assert 1 <= retry_after(acks[3]) <= 3600
    assert limited.db().conversations.count_documents({}) == before + 3
    counters = list(limited.db().rate_counters.find())
    assert counters and all("198.51.100" not in str(doc) for doc in counters)  # keyed hash, no address

    # Another address is not affected.
    other, _ = await visitor_client(limited, headers=new_address())
    assert (await call(other, "/visitor", "message", {"client_id": "o", "text": "hoi"}))["ok"]
    await other.disconnect()


async def test_a_person_chatting_never_meets_a_limit(server: ServerProcess) -> None:
    """A lively visitor with the default limits: two tabs, typing before every message, a quick
    exchange of twelve messages, a reload that resumes, and a second conversation later on."""
    tab, _ = await visitor_client(server)
    second_tab, _ = await visitor_client(server)
    token = None
    for i in range(12):
        assert (await call(tab, "/visitor", "typing", {"typing": True}))["ok"]
        await asyncio.sleep(0.5)  # pacing a (very fast) typist, not synchronisation
        ack = await call(tab, "/visitor", "message", {"client_id": f"human-{i}", "text": f"bericht {i}"})
        assert ack["ok"], ack
        token = ack.get("token") or token
        assert (await call(tab, "/visitor", "typing", {"typing": False}))["ok"]
    assert (await call(second_tab, "/visitor", "resume", {"token": token}))["ok"]
    await tab.disconnect()
    reloaded, _ = await visitor_client(server)
    assert (await call(reloaded, "/visitor", "resume", {"token": token}))["ok"]
    assert (await call(reloaded, "/visitor", "forget", {}))["ok"]
    ack = await call(reloaded, "/visitor", "message", {"client_id": "later", "text": "nieuwe vraag"})
    assert ack["ok"] and ack["conversation_id"] != token.partition(".")[0]
    for client in (second_tab, reloaded):
        await client.disconnect()
