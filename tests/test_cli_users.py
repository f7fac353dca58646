"""`chat-service users create` as a newcomer meets it: the start-up banner's command, a real
terminal (a pty) for the password, stdin closed, and the audit event each account leaves."""

from __future__ import annotations

import json
import os
import select
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import SecantusProcess, ServerProcess, free_port, terminate, wait_for

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


# --- the password, asked in a real terminal ----------------------------------------------------


class Terminal:
    """`chat-service users create` on a pseudo-terminal, read and typed into like a person does."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str):
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            [str(CHAT_SERVICE), "users", "create", *args],
            env=env,
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # no controlling terminal: getpass uses this pty as stdin
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, timeout: float = 30) -> str:
        """Everything up to and including `text`; fails if it has not appeared in time."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # the program exited and the pty closed
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{text!r} never appeared; the program ended with:\n{self.seen}")
                self.seen += chunk.decode(errors="replace").replace("\r\n", "\n")
        before, _, after = self.seen.partition(text)
        self.seen = after
        return before + text

    def type(self, line: str) -> None:
        os.write(self.master, (line + "\n").encode())

    def finish(self) -> int:
        try:
            return self.proc.wait(60)
        finally:
            os.close(self.master)


@pytest.fixture
def cli_env(secantus: SecantusProcess, tmp_path: Path) -> ServerProcess:
    """The environment a server would have (own database, dev keys); no server is needed."""
    return ServerProcess(secantus.uri, tmp_path / "cli")


def test_the_password_rule_is_said_first_and_a_bad_password_is_asked_again(cli_env: ServerProcess) -> None:
    term = Terminal(cli_env.env(), cli_env.workdir, "new@example.eu", "--role", "admin")
    assert "at least 12 characters" in term.expect("Password:")  # the rule, before typing
    term.type("short")
    assert "at least 12 characters" in term.expect("Password:")  # too short: asked again
    term.type(PASSWORD)
    term.expect("Repeat password:")
    term.type(PASSWORD + " typo")
    assert "do not match" in term.expect("Password:")  # mismatch: asked again
    term.type(PASSWORD)
    term.expect("Repeat password:")
    term.type(PASSWORD)
    term.expect("created admin new@example.eu")
    assert term.finish() == 0
    user = cli_env.db().users.find_one({"email": "new@example.eu"})
    assert user is not None and user["role"] == "admin"


def test_three_bad_passwords_end_without_an_account(cli_env: ServerProcess) -> None:
    term = Terminal(cli_env.env(), cli_env.workdir, "new@example.eu")
    for attempt in range(3):
        term.expect("Password:")
        term.type(f"short{attempt}")
    assert "nothing was created" in term.expect("nothing was created")
    assert term.finish() == 1
    assert cli_env.db().users.count_documents({}) == 0


@pytest.mark.parametrize(
    ("how", "extra"),
    [("closed", ()), ("empty", ()), ("closed", ("--password-stdin",)), ("empty", ("--password-stdin",))],
)
def test_no_password_on_stdin_is_a_clear_message_and_exit_2(
    cli_env: ServerProcess, how: str, extra: tuple[str, ...]
) -> None:
    command = shlex.join([str(CHAT_SERVICE), "users", "create", "new@example.eu", *extra])
    result = subprocess.run(
        ["/bin/sh", "-c", f"exec {command} <&-" if how == "closed" else f"exec {command}"],
        env=cli_env.env(),
        cwd=cli_env.workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        start_new_session=True,  # no terminal to fall back on
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "EOFError" not in result.stderr
    assert "no password" in result.stderr and "--password-stdin" in result.stderr
    assert cli_env.db().users.count_documents({}) == 0


# --- the audit log ----------------------------------------------------------------------------


def test_every_account_created_from_the_cli_is_audited(cli_env: ServerProcess) -> None:
    cli_env.create_user("first@example.eu", PASSWORD, role="admin")
    result = cli_env.run_cli(
        "users", "create", "second@example.eu", "--actor", "ops-jan", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stderr
    db = cli_env.db()
    ids = {u["email"]: u["_id"] for u in db.users.find()}
    events = list(db.audit_events.find().sort("_id", 1))
    assert [(e["actor_id"], e["action"], e["target_type"], e["target_id"], e["details"]) for e in events] == [
        ("cli", "user.created", "user", ids["first@example.eu"], {"role": "admin", "via": "cli"}),
        ("ops-jan", "user.created", "user", ids["second@example.eu"], {"role": "agent", "via": "cli"}),
    ]
    stored = str(events)
    assert "example.eu" not in stored and PASSWORD not in stored  # no e-mail, no password
    verify = cli_env.run_cli("audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "intact: 2 events" in verify.stdout


@pytest.mark.parametrize("actor", ["", "   ", "x" * 65, "ops\njan"])
def test_an_unusable_actor_name_is_refused(cli_env: ServerProcess, actor: str) -> None:
    result = cli_env.run_cli("users", "create", "a@example.eu", "--actor", actor, "--password-stdin", stdin=PASSWORD)
    assert result.returncode == 2 and "--actor" in result.stderr and "Traceback" not in result.stderr
    assert cli_env.db().users.count_documents({}) == 0


def test_a_refused_account_leaves_no_audit_event(cli_env: ServerProcess) -> None:
    cli_env.create_user("first@example.eu", PASSWORD)
    again = cli_env.run_cli("users", "create", "first@example.eu", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert cli_env.db().audit_events.count_documents({}) == 1
