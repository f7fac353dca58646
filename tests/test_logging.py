"""The redaction processor: no message text, e-mail, IP or token in any log line."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from chat_service.logging import REDACTED, configure_logging, get_logger, redact_personal_data

TOKEN = "c0123456789abcdef01234567.Xy3_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"


@pytest.mark.parametrize(
    ("event", "canary"),
    [
        ({"event": "x", "text": "my secret message"}, "my secret message"),
        ({"event": "x", "email": "a@b.eu"}, "a@b.eu"),
        ({"event": "sent mail to jan.jansen@example.nl"}, "jan.jansen@example.nl"),
        ({"event": "x", "peer": "10.1.2.3"}, "10.1.2.3"),
        ({"event": "x", "detail": "from 192.168.10.20 port 5"}, "192.168.10.20"),
        ({"event": "x", "detail": "client 2001:db8::1 joined"}, "2001:db8::1"),
        ({"event": "x", "detail": "fe80::1ff:fe23:4567:890a"}, "fe80::1ff:fe23:4567:890a"),
        ({"event": "x", "nested": {"list": [{"e_mail": "x@y.com"}]}}, "x@y.com"),
        ({"event": "x", "nested": {"deep": ["see piet@voorbeeld.nl"]}}, "piet@voorbeeld.nl"),
        ({"event": "x", "token": TOKEN}, TOKEN),
        ({"event": "x", "detail": f"bad token {TOKEN}"}, TOKEN[-30:]),
        ({"event": "x", "Cookie": "chat_session=abc"}, "abc"),
        ({"event": "x", "User-Agent": "Mozilla/5.0 canary"}, "canary"),
        ({"event": "x", "payload": {"text": "hidden body"}}, "hidden body"),
    ],
)
def test_processor_removes_personal_data(event: dict[str, Any], canary: str) -> None:
    out = redact_personal_data(None, "info", dict(event))
    assert canary not in json.dumps(out)


def test_processor_keeps_useful_fields() -> None:
    out = redact_personal_data(None, "info", {"event": "message_stored", "conversation_id": "c1", "ms": 3.5})
    assert out == {"event": "message_stored", "conversation_id": "c1", "ms": 3.5}


def test_sensitive_key_is_blanked_not_dropped() -> None:
    assert redact_personal_data(None, "info", {"event": "x", "password": "p"})["password"] == REDACTED


def test_configured_pipeline_redacts_structlog_and_stdlib_lines() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    get_logger("t").info("hello", email="jan@example.nl", text="body text")
    logging.getLogger("somelib").warning("connection from 203.0.113.9 by jan@example.nl")
    try:
        raise ValueError("failed for jan@example.nl")
    except ValueError:
        get_logger("t").exception("boom")
    output = stream.getvalue()
    assert output.count("\n") == 3
    for canary in ("jan@example.nl", "body text", "203.0.113.9"):
        assert canary not in output
    assert all(json.loads(line) for line in output.splitlines())
