"""Malformed and oversized events get error acks; the connection and the server stay up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_service.errors import InvalidInput
from chat_service.schemas import loads, socket_json
from chat_service.validation import parse_visitor_message
from tests.helpers import ServerProcess, call, visitor_client

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "client_id": json_values | st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
        "text": json_values | st.text(min_size=0, max_size=5000),
        "profile": json_values
        | st.fixed_dictionaries({}, optional={"email": json_values, "name": json_values, "page_url": json_values}),
        "offline": json_values,
        "extra": json_values,
    },
)
payloads = message_like | json_values | st.binary(max_size=64)


@given(payloads)
def test_parser_only_ever_accepts_or_raises_invalid_input(payload: Any) -> None:
    try:
        parsed = parse_visitor_message(payload, 4000)
    except InvalidInput:
        return
    assert 0 < len(parsed.text) <= 4000


@pytest.fixture
def sync_visitor(server: ServerProcess) -> Iterator[socketio.Client]:
    client = socketio.Client(reconnection=False)
    client.connect(server.url, namespaces=["/visitor"], transports=["websocket"])
    yield client
    client.disconnect()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, event=st.sampled_from(["message", "resume", "typing", "forget", "no_such_event"]))
def test_live_server_answers_every_payload(
    server: ServerProcess, sync_visitor: socketio.Client, event: str, payload: Any
) -> None:
    ack = sync_visitor.call(event, payload, namespace="/visitor", timeout=10)
    assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool)
    if not ack["ok"]:
        assert isinstance(ack["error"]["code"], str) and isinstance(ack["error"]["message"], str)


BAD_MESSAGES: list[tuple[Any, str]] = [
    (None, "invalid_input"),
    ("just a string", "invalid_input"),
    ([1, 2], "invalid_input"),
    ({"text": "no client id"}, "invalid_input"),
    ({"client_id": "a", "text": ""}, "invalid_input"),
    ({"client_id": "a", "text": "   "}, "invalid_input"),
    ({"client_id": "a", "text": 5}, "invalid_input"),
    ({"client_id": "a b", "text": "x"}, "invalid_input"),
    ({"client_id": "a", "text": "x", "unexpected": 1}, "invalid_input"),
    ({"client_id": "a", "text": "x" * 4001}, "text_too_long"),
    ({"client_id": "a", "text": "x", "profile": {"email": "not-an-email"}}, "invalid_input"),
    ({"client_id": "a", "text": "x", "profile": {"page_url": "javascript:alert(1)"}}, "invalid_input"),
    ({"client_id": "a", "text": "x", "offline": True}, "invalid_input"),
    ({"client_id": {"$gt": ""}, "text": "x"}, "invalid_input"),
]


@pytest.mark.parametrize(("payload", "code"), BAD_MESSAGES)
async def test_bad_messages_are_refused_with_a_code(server: ServerProcess, payload: Any, code: str) -> None:
    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    assert ack["error"]["message"]
    # Same connection still works, and nothing from the bad event was stored.
    assert server.db().messages.count_documents({}) == 0
    good = await call(visitor, "/visitor", "message", {"client_id": "ok", "text": "x" * 4000})
    assert good["ok"] is True
    await visitor.disconnect()


async def test_extra_positional_arguments_are_refused(server: ServerProcess) -> None:
    visitor, _ = await visitor_client(server)
    ack = await visitor.call("message", ({"client_id": "a", "text": "x"}, "extra"), namespace="/visitor", timeout=10)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_input"
    await visitor.disconnect()


async def test_oversized_frame_does_not_take_the_server_down(server: ServerProcess) -> None:
    big, _ = await visitor_client(server)
    # Above the 64 KiB frame limit: the server drops this connection, not itself.
    await big.emit("message", {"client_id": "a", "text": "x" * 200_000}, namespace="/visitor")
    await big.disconnect()
    visitor, _ = await visitor_client(server)
    assert (await call(visitor, "/visitor", "message", {"client_id": "a", "text": "still up"}))["ok"] is True
    await visitor.disconnect()
    assert server.alive()


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        (b'{"a": [1, {"b": "x"}]}', True),
        (b"[" * 32 + b"]" * 32, True),
        (b"[" * 33 + b"]" * 33, False),
        (b"[" * 1000 + b"]" * 1000, False),
        (b'{"a": "' + b"[" * 100 + b'"}', True),  # brackets inside a string are not nesting
        (b'{"email": "a\\ud800@x.eu"}', False),
        (b'{"k\\udfff": 1}', False),
        (b'{"ok": "\\ud83d\\ude00"}', True),  # a surrogate pair is one real character
        (b'{"n": NaN}', False),
        (b'{"n": Infinity}', False),
        (b"\xff\xfe", False),
        (b"{", False),
    ],
)
def test_bounded_json_parser(raw: bytes, accepted: bool) -> None:
    if accepted:
        loads(raw)
    else:
        with pytest.raises(InvalidInput):
            loads(raw)


def test_socket_decoder_turns_a_refused_payload_into_an_invalid_input_ack() -> None:
    decoded = socket_json.loads('["message", {"text": "a\\ud800"}]')
    assert isinstance(decoded, list) and decoded[0] == "message"
    assert isinstance(decoded[1], socket_json.RejectedPayload)
    assert socket_json.loads('["message", {"text": "ok"}]') == ["message", {"text": "ok"}]
