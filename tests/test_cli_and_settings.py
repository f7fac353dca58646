"""Settings validation, `chat-service check`, start-up refusals, health endpoints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from chat_service.settings import SETTINGS_DOC, SettingsError, load_settings
from tests.helpers import SecantusProcess, ServerProcess, new_hmac_keys_file, new_key_ring_file


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            {
                "CHAT_PORT": "http",
                "CHAT_MAX_TEXT_LENGTH": "0",
                "MONGODB_URI": "postgres://x",
                "CHAT_LOG_LEVEL": "LOUD",
                "CHAT_ALLOWED_ORIGINS": "not an origin",
            }
        )
    text = str(info.value)
    for name in ("CHAT_PORT", "CHAT_MAX_TEXT_LENGTH", "MONGODB_URI", "CHAT_LOG_LEVEL", "CHAT_ALLOWED_ORIGINS"):
        assert name in text
    assert len(info.value.problems) >= 5


def test_production_needs_a_database_and_a_master_key() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings({})
    assert any("MONGODB_URI" in p for p in info.value.problems)
    assert any("master key" in p for p in info.value.problems)
    assert any("CHAT_HMAC_KEYS_FILE" in p for p in info.value.problems)


def test_dev_defaults_are_usable() -> None:
    settings = load_settings({"CHAT_DEV": "1"})
    assert settings.embedded and settings.log_format == "console"
    assert settings.effective_master_key_file == Path("var/master.keys")
    assert settings.max_text_length == 4000


def test_every_setting_is_documented() -> None:
    import dataclasses

    from chat_service.settings import Settings

    assert {f.name for f in dataclasses.fields(Settings)} == set(SETTINGS_DOC)
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for env_name, _ in SETTINGS_DOC.values():
        assert f"`{env_name}`" in readme, f"{env_name} missing from the README's configuration table"


def _cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "MONGODB_URI"}
    return subprocess.run(
        [sys.executable, "-m", "chat_service", *args],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_run_with_bad_settings_prints_every_problem_without_a_traceback(tmp_path: Path) -> None:
    result = _cli({"CHAT_PORT": "-1", "CHAT_LOG_FORMAT": "xml"}, "run", cwd=tmp_path)
    assert result.returncode == 1
    assert "CHAT_PORT" in result.stderr and "CHAT_LOG_FORMAT" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_mode_refuses_a_database_of_unknown_location(secantus: SecantusProcess, tmp_path: Path) -> None:
    env = {
        "MONGODB_URI": secantus.uri,
        "CHAT_MASTER_KEY_FILE": str(new_key_ring_file(tmp_path / "k")),
        "CHAT_HMAC_KEYS_FILE": str(new_hmac_keys_file(tmp_path / "h")),
    }
    check = _cli(env, "check", cwd=tmp_path)
    assert check.returncode == 1
    assert "no 'region' tag" in check.stderr and "dev mode only" in check.stderr

    run = _cli({**env, "CHAT_PORT": "0"}, "run", cwd=tmp_path)
    assert run.returncode == 1
    assert "will not start" in run.stderr and "residency refused" in run.stderr
    assert "Traceback" not in run.stderr


def test_check_passes_in_dev_mode(secantus: SecantusProcess, tmp_path: Path) -> None:
    env = {
        "MONGODB_URI": secantus.uri,
        "CHAT_DEV": "true",
        "CHAT_MASTER_KEY_FILE": str(new_key_ring_file(tmp_path / "k")),
    }
    result = _cli(env, "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "local (dev mode)" in result.stdout


def test_check_reports_an_unreachable_database(tmp_path: Path) -> None:
    env = {
        "MONGODB_URI": "mongodb://127.0.0.1:1/?directConnection=true",
        "CHAT_MONGODB_TIMEOUT_MS": "300",
        "CHAT_MASTER_KEY_FILE": str(tmp_path / "missing.keys"),
        "CHAT_HMAC_KEYS_FILE": str(tmp_path / "missing.hmac"),
    }
    result = _cli(env, "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "database" in result.stderr and "master key" in result.stderr and "HMAC" in result.stderr


def test_users_create_rejects_weak_passwords_and_duplicates(server: ServerProcess) -> None:
    weak = server.run_cli("users", "create", "a@example.eu", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 12" in weak.stderr
    ok = server.run_cli(
        "users", "create", "a@example.eu", "--role", "admin", "--password-stdin", stdin="long enough password\n"
    )
    assert ok.returncode == 0, ok.stderr
    again = server.run_cli("users", "create", "A@Example.eu", "--password-stdin", stdin="long enough password\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    stored = server.db().users.find_one({"email": "a@example.eu"})
    assert stored["role"] == "admin" and stored["password_hash"].startswith("$argon2id$")


def test_health_and_readiness(server: ServerProcess) -> None:
    with urllib.request.urlopen(server.url + "/healthz") as response:  # noqa: S310
        assert json.load(response) == {"status": "ok"}
    with urllib.request.urlopen(server.url + "/readyz") as response:  # noqa: S310
        body = json.load(response)
    # Anonymous callers learn the status only; node addresses and regions are for `check`.
    assert body == {"status": "ready"}
    check = server.run_cli("check")
    assert check.returncode == 0 and "127.0.0.1:" in check.stdout, check.stdout + check.stderr


def test_embedded_database_starts_and_stops_with_the_server(tmp_path: Path) -> None:
    """`run --dev` with no MONGODB_URI: SecantusDB as a child process, stopped on SIGTERM."""
    server = ServerProcess("unused", tmp_path / "emb")
    try:
        server.start(embedded=True)
        uri_file = server.workdir / "var" / "secantusd.uri"
        port = int(uri_file.read_text().split(":")[2].split("/")[0])
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0
    assert not uri_file.exists()
    with socket.socket() as probe:  # the embedded database went down with the server
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert "embedded_db_stopped" in server.logs()
    assert (server.workdir / "var" / "db").is_dir()
