"""`chat-service users create` as a newcomer meets it: the start-up banner's command, a real
terminal (a pty) for the password, stdin closed, and the audit event each account leaves."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import free_port, terminate, wait_for

PASSWORD = "correct horse battery staple"
CHAT_SERVICE = Path(sys.executable).parent / "chat-service"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "MONGODB_URI"}


def _sign_in(url: str, email: str, password: str) -> int:
    body = json.dumps({"email": email, "password": password}).encode()
    request = urllib.request.Request(url + "/api/session", body, {"Content-Type": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_banner_command_creates_an_admin_who_can_sign_in(tmp_path: Path) -> None:
    """Run from one folder with --data-dir, follow the banner from another: the admin signs in."""
    server_dir, other_dir, data_dir = tmp_path / "server", tmp_path / "elsewhere", tmp_path / "data"
    server_dir.mkdir()
    other_dir.mkdir()
    port = free_port()
    out = server_dir / "stdout.txt"
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [str(CHAT_SERVICE), "run", "--dev", "--data-dir", str(data_dir), "--port", str(port)],
            env=_clean_env(),
            cwd=server_dir,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        banner = wait_for(
            lambda: "Ctrl+C" in out.read_text() and out.read_text(), 60, what="the start-up banner"
        ).splitlines()
        base = f"http://127.0.0.1:{port}"
        assert any(line.split() == ["demo", "page", "(widget):", base + "/"] for line in banner), banner
        assert any(line.split() == ["agent", "console:", base + "/console/"] for line in banner), banner
        command = shlex.split(banner[banner.index(next(line for line in banner if "first admin" in line)) + 1])
        assert "--data-dir" in command and "--dev" in command

        created = subprocess.run(
            [*command, "--password-stdin"],
            env=_clean_env(),
            cwd=other_dir,
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        assert not (other_dir / "var").exists()  # no second database appeared beside the command
        assert _sign_in(base, "you@example.eu", PASSWORD) == 200
    finally:
        terminate(proc)


def test_the_banner_command_never_prints_a_database_password() -> None:
    from chat_service.cli import first_admin_command
    from chat_service.settings import load_settings

    uri = "mongodb://admin:s3cret-pw@db.example.eu:27017/?replicaSet=rs0"
    settings = load_settings(
        {"CHAT_DEV": "true", "MONGODB_URI": uri, "CHAT_DATA_DIR": "var", "CHAT_MONGODB_DATABASE": "chat_eu"}
    )
    command = first_admin_command(settings)
    assert "s3cret" not in command
    assert '--mongodb-uri "$MONGODB_URI"' in command
    assert "CHAT_MONGODB_DATABASE=chat_eu" in command
    assert f"--data-dir {Path('var').resolve()}" in command
