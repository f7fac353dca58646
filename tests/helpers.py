"""Real processes for tests: a SecantusDB server and the chat server, both over TCP."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymongo
import socketio

REPO = Path(__file__).resolve().parent.parent
SECANTUSD = str(Path(sys.executable).parent / "secantusd-py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


def terminate(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not stopped in time."""
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class SecantusProcess:
    """`secantusd-py` as a child process on a free port, as production-like as it gets here."""

    def __init__(self, storage: Path, port: int | None = None):
        self.storage = storage
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> SecantusProcess:
        self.storage.mkdir(parents=True, exist_ok=True)
        log = open(self.storage.parent / f"secantusd-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                SECANTUSD,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.storage),
                "--sync-on-commit",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=200)

        def ready() -> bool:
            try:
                client.admin.command("ping")
                return True
            except pymongo.errors.PyMongoError:
                assert self.proc is not None and self.proc.poll() is None, "secantusd-py exited"
                return False

        try:
            wait_for(ready, 30, what="secantusd-py to answer ping")
        finally:
            client.close()
        return self

    def stop(self) -> None:
        terminate(self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no chance to flush anything
        self.proc.wait()

    def client(self) -> pymongo.MongoClient[dict[str, Any]]:
        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)


def new_key_ring_file(path: Path) -> Path:
    path.write_text(json.dumps({"active": "k1", "keys": {"k1": base64.b64encode(os.urandom(32)).decode()}}))
    path.chmod(0o600)
    return path


def new_hmac_keys_file(path: Path) -> Path:
    path.write_text(
        json.dumps({p: base64.b64encode(os.urandom(32)).decode() for p in ("audit", "blind_index", "pseudonym")})
    )
    path.chmod(0o600)
    return path


@dataclass
class ServerProcess:
    """`python -m chat_service run` with its own database name; logs captured as JSON lines."""

    mongodb_uri: str
    workdir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    database: str = field(default_factory=lambda: "t_" + uuid.uuid4().hex[:12])
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"server-{self.port}.log"

    def env(self) -> dict[str, str]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key_file = self.workdir / "master.keys"
        if not key_file.exists():
            new_key_ring_file(key_file)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_") and k != "MONGODB_URI"}
        env.update(
            {
                "CHAT_DEV": "true",
                "MONGODB_URI": self.mongodb_uri,
                "CHAT_MONGODB_DATABASE": self.database,
                "CHAT_MASTER_KEY_FILE": str(key_file),
                "CHAT_DATA_DIR": str(self.workdir / "var"),
                "CHAT_PORT": str(self.port),
                "CHAT_LOG_FORMAT": "json",
                "CHAT_LOG_LEVEL": "DEBUG",
                "CHAT_MONGODB_TIMEOUT_MS": "5000",
            }
        )
        env.update(self.env_extra)
        return env

    def start(self, wait: bool = True, *, embedded: bool = False) -> ServerProcess:
        """Start; with `embedded`, without MONGODB_URI so the server starts its own SecantusDB."""
        env = self.env()
        if embedded:
            del env["MONGODB_URI"]
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chat_service", "run"],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        if wait:
            wait_for(self._ready, 30, what=f"chat server on {self.url} (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        terminate(self.proc)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def run_cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chat_service", *args],
            env=self.env(),
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def db(self) -> pymongo.database.Database[dict[str, Any]]:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(self.mongodb_uri, tz_aware=True)
        return client[self.database]

    def create_user(self, email: str, password: str, role: str = "agent") -> None:
        result = self.run_cli("users", "create", email, "--role", role, "--password-stdin", stdin=password + "\n")
        assert result.returncode == 0, result.stderr


class Recorder:
    """Collects server-sent events per name so a test can await the next one."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)

    def handler(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            await self.events[name].put(data)

        return record

    async def next(self, name: str, timeout: float = 10.0) -> Any:
        return await asyncio.wait_for(self.events[name].get(), timeout)

    def pending(self, name: str) -> int:
        return self.events[name].qsize()


SERVER_EVENTS = (
    "message",
    "typing",
    "conversation_created",
    "conversation_updated",
    "conversation_status",
    "presence",
    "seen",
)


async def visitor_client(
    server: ServerProcess, headers: dict[str, str] | None = None
) -> tuple[socketio.AsyncClient, Recorder]:
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder()
    for name in SERVER_EVENTS:
        client.on(name, recorder.handler(name), namespace="/visitor")
    await client.connect(server.url, namespaces=["/visitor"], transports=["websocket"], headers=headers or {})
    return client, recorder


async def login(server: ServerProcess, email: str, password: str) -> str:
    return (await login_full(server, email, password))[0]


async def login_full(server: ServerProcess, email: str, password: str) -> tuple[str, str]:
    """Log in; returns the session cookie and the CSRF token."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "/api/session", json={"email": email, "password": password}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
            assert resp.cookies["chat_csrf"].value == body["csrf_token"]
            return resp.cookies["chat_session"].value, body["csrf_token"]


async def agent_client(server: ServerProcess, cookie: str) -> tuple[socketio.AsyncClient, Recorder]:
    client = socketio.AsyncClient(reconnection=False)
    recorder = Recorder()
    for name in SERVER_EVENTS:
        client.on(name, recorder.handler(name), namespace="/agent")
    await client.connect(
        server.url, namespaces=["/agent"], transports=["websocket"], headers={"Cookie": f"chat_session={cookie}"}
    )
    return client, recorder


async def call(client: socketio.AsyncClient, namespace: str, event: str, payload: Any = None) -> Any:
    return await client.call(event, payload, namespace=namespace, timeout=15)
