"""The HTTP contract against one live server: problem+json everywhere under /api, bounded JSON,
security headers on every answer, an anonymous /readyz, security.txt, and schemathesis."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.helpers import SecantusProcess, ServerProcess

ADMIN = ("contract-admin@example.eu", "correct horse battery staple")
CONTACT = "mailto:security@example.eu"
NESTED = b"[" * 1000 + b"]" * 1000


@pytest.fixture(scope="module")
def live(secantus: SecantusProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"CHAT_TRUST_PROXY": "true", "CHAT_SECURITY_CONTACT": CONTACT}
    server = ServerProcess(secantus.uri, tmp_path_factory.mktemp("contract"), env_extra=env).start()
    server.create_user(*ADMIN, role="admin")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(live: ServerProcess) -> requests.Session:
    session = requests.Session()
    reply = session.post(live.url + "/api/session", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=30)
    assert reply.status_code == 200, reply.text
    session.headers["X-CSRF-Token"] = reply.json()["csrf_token"]
    return session


def assert_problem(reply: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/problem+json"), reply.headers
    body: dict[str, Any] = reply.json()
    assert body["code"] == code and body["message"], body
    return body


def raw_post(url: str, body: bytes, session: requests.Session | None = None) -> requests.Response:
    sender = session or requests
    return sender.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/no-such-route", 404, "not_found"),
        ("DELETE", "/api/canned/not-an-id", 404, "not_found"),
        ("PUT", "/api/canned/not-an-id", 404, "not_found"),
        ("PATCH", "/api/users/not-an-id", 404, "not_found"),
        ("PUT", "/api/session", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_bad_ids_answer_problem_json(
    live: ServerProcess, admin: requests.Session, method: str, path: str, status: int, code: str
) -> None:
    reply = admin.request(method, live.url + path, json={}, timeout=30)
    assert_problem(reply, status, code)
    if status == 405:
        assert "POST" in reply.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/session", "/api/users", "/api/privacy/find"])
def test_deeply_nested_json_is_invalid_input_not_a_crash(
    live: ServerProcess, admin: requests.Session, path: str
) -> None:
    body = assert_problem(raw_post(live.url + path, NESTED, admin), 400, "invalid_input")
    assert "nested" in body["message"]
    # Unauthenticated too, on the login route: the parser runs before any check can save it.
    assert_problem(raw_post(live.url + "/api/session", NESTED), 400, "invalid_input")


def test_lone_surrogates_are_invalid_input(live: ServerProcess, admin: requests.Session) -> None:
    login = b'{"email": "a\\ud800@x.eu", "password": "x"}'
    assert_problem(raw_post(live.url + "/api/session", login), 400, "invalid_input")
    user = b'{"email": "a\\udfff@x.eu", "role": "agent"}'
    assert_problem(raw_post(live.url + "/api/users", user, admin), 400, "invalid_input")
    key = b'{"email\\ud800": "a@x.eu", "password": "x"}'
    assert_problem(raw_post(live.url + "/api/session", key), 400, "invalid_input")
    assert "Internal" not in live.logs() and "UnicodeEncodeError" not in live.logs()


def test_oversized_body_is_413_with_the_limit(live: ServerProcess) -> None:
    big = b'{"email": "' + b"a" * 70_000 + b'", "password": "x"}'
    body = assert_problem(raw_post(live.url + "/api/session", big), 413, "payload_too_large")
    assert body["details"]["max_bytes"] == 64 * 1024


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/users", {"email": "", "role": "agent"}),
        ("/api/canned", {"shortcut": "hi", "title": "", "text": "Hello"}),
        ("/api/canned", {"shortcut": "hi", "title": "   ", "text": "Hello"}),
        ("/api/privacy/breach-report", {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
    ],
)
def test_values_the_schema_refuses_are_refused(
    live: ServerProcess, admin: requests.Session, path: str, body: dict[str, Any]
) -> None:
    assert_problem(admin.post(live.url + path, json=body, timeout=30), 400, "invalid_input")


def test_empty_patch_and_audit_limit_over_the_maximum_are_400(live: ServerProcess, admin: requests.Session) -> None:
    users = admin.get(live.url + "/api/users", timeout=30).json()["users"]
    reply = admin.patch(f"{live.url}/api/users/{users[0]['id']}", json={}, timeout=30)
    assert assert_problem(reply, 400, "invalid_input")["message"] == "Nothing to change."
    body = assert_problem(admin.get(live.url + "/api/audit?limit=501", timeout=30), 400, "invalid_input")
    assert body["details"] == {"field": "limit"} and "500" in body["message"]
    assert admin.get(live.url + "/api/audit?limit=500", timeout=30).status_code == 200


def test_canned_shortcut_error_says_the_expected_format(live: ServerProcess, admin: requests.Session) -> None:
    reply = admin.post(live.url + "/api/canned", json={"shortcut": "Bad One", "title": "t", "text": "x"}, timeout=30)
    body = assert_problem(reply, 400, "invalid_input")
    assert body["details"] == {"field": "shortcut"} and "a-z" in body["message"]


@pytest.mark.parametrize("path", ["/api/no-such-route", "/api/session", "/console/no-such-file", "/healthz"])
def test_security_headers_on_every_answer(live: ServerProcess, path: str) -> None:
    reply = requests.get(live.url + path, timeout=30)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert "Python" not in reply.headers["Server"] and "aiohttp" not in reply.headers["Server"]
    assert "Strict-Transport-Security" not in reply.headers  # plain http, no proxy said https
    if path.startswith("/api/"):
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.status_code in (401, 404)


def test_hsts_behind_a_trusted_https_proxy(live: ServerProcess) -> None:
    reply = requests.get(live.url + "/api/no-such-route", headers={"X-Forwarded-Proto": "https"}, timeout=30)
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")


def test_readyz_tells_anonymous_callers_only_the_status(live: ServerProcess) -> None:
    reply = requests.get(live.url + "/readyz", timeout=30)
    assert reply.status_code == 200 and reply.json() == {"status": "ready"}
    assert "127.0.0.1" not in reply.text


def test_security_txt(live: ServerProcess) -> None:
    reply = requests.get(live.url + "/.well-known/security.txt", timeout=30)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain")
    fields = dict(line.split(": ", 1) for line in reply.text.splitlines())
    assert fields["Contact"] == CONTACT
    assert fields["Canonical"] == live.url + "/.well-known/security.txt"
    assert fields["Preferred-Languages"] == "en"
    expires = datetime.fromisoformat(fields["Expires"])
    assert datetime.now(UTC) + timedelta(days=30) < expires < datetime.now(UTC) + timedelta(days=365)


def test_socket_payloads_with_surrogates_or_deep_nesting_get_invalid_input(live: ServerProcess) -> None:
    client = socketio.Client(reconnection=False)
    client.connect(live.url, namespaces=["/visitor"], transports=["websocket"])
    try:
        deep: Any = "x"
        for _ in range(100):
            deep = [deep]
        for payload in (
            {"client_id": "a", "text": "hi", "profile": {"email": "a\ud800@x.eu"}},
            {"client_id": "a", "text": "a\udc00b"},
            {"client_id": "a", "text": "hi", "profile": deep},
        ):
            ack = client.call("message", payload, namespace="/visitor", timeout=15)
            assert ack["ok"] is False and ack["error"]["code"] == "invalid_input", ack
        assert client.call("message", {"client_id": "ok", "text": "still fine"}, namespace="/visitor", timeout=15)["ok"]
    finally:
        client.disconnect()
    assert live.db().messages.count_documents({}) == 1


def test_schemathesis_finds_no_server_error_and_no_disagreement(
    live: ServerProcess, admin: requests.Session, tmp_path: Path
) -> None:
    """Bounded: a few examples per operation, one worker, a fixed seed; well under a minute."""
    cookie = admin.cookies["chat_session"]
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            live.url + "/api/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
            "negative_data_rejection,unsupported_method,allow_header_conformance",
            "--max-examples",
            "14",
            "--phases",
            "examples,fuzzing",
            "--workers",
            "1",
            "--seed",
            "20261125",
            "--exclude-operation-id",
            "delete_api_session",
            "--header",
            f"Cookie: chat_session={cookie}",
            "--header",
            f"X-CSRF-Token: {admin.headers['X-CSRF-Token']}",
            "--generation-with-security-parameters",
            "false",
            "--request-timeout",
            "20",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert live.alive()
