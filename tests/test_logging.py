"""The redaction processor: no message text, e-mail, IP or token in any log line."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
import socketio

from chat_service.logging import REDACTED, configure_logging, get_logger, own_config, redact_personal_data
from tests.helpers import ServerProcess, wait_for

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


def test_socket_libraries_log_only_through_the_redacting_handler(capfd: pytest.CaptureFixture[str]) -> None:
    """engineio/socketio attach a plain StreamHandler when given logger=False; none may write."""
    from chat_service.app import build_socket_server
    from chat_service.settings import Settings

    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    build_socket_server(Settings(dev=True), lambda origin, environ: True)
    logging.getLogger("engineio.server").error("http://198.51.100.23:8080 is not an accepted origin.")
    try:
        raise RuntimeError("handler failed for 198.51.100.23 and jan@example.nl")
    except RuntimeError:
        logging.getLogger("socketio.server").exception("message async handler error")
    assert "198.51.100.23" not in capfd.readouterr().err  # no plain-text handler wrote the line
    output = stream.getvalue()
    assert output.count("\n") == 2 and all(json.loads(line) for line in output.splitlines())
    assert "Traceback" in output
    for canary in ("198.51.100.23", "jan@example.nl"):
        assert canary not in output


def test_own_configuration_keeps_its_addresses_visitors_do_not() -> None:
    out = redact_personal_data(
        None,
        "info",
        {
            "event": "residency_verified",
            "regions": own_config(["127.0.0.1:57131=local (dev mode)", "10.0.0.5:27017=EU_WEST_1"]),
            "origin": "http://203.0.113.9",
        },
    )
    assert out["regions"] == ["127.0.0.1:57131=local (dev mode)", "10.0.0.5:27017=EU_WEST_1"]
    assert "203.0.113.9" not in json.dumps(out)
    # Still no e-mail address or token, even in our own configuration.
    scrubbed = redact_personal_data(None, "info", {"event": "x", "uri": own_config(f"ops@example.eu {TOKEN}")})
    assert "ops@example.eu" not in json.dumps(scrubbed) and TOKEN not in json.dumps(scrubbed)


def test_live_log_redacts_a_visitors_origin_and_keeps_the_database_node(server: ServerProcess) -> None:
    refused = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(
            server.url, namespaces=["/visitor"], transports=["polling"], headers={"Origin": "http://203.0.113.77:8080"}
        )
    wait_for(lambda: "not an accepted origin" in server.logs(), what="the refused origin to be logged")
    logs = server.logs()
    assert "203.0.113.77" not in logs
    origin_lines = [line for line in logs.splitlines() if "not an accepted origin" in line]
    assert all(line.startswith("{") for line in origin_lines), origin_lines  # JSON only, no plain-text copy
    # The start-up summary names our own database node on the loopback interface.
    summary = next(line for line in logs.splitlines() if "residency_verified" in line)
    assert "127.0.0.1:" in summary and "[ip]" not in summary
