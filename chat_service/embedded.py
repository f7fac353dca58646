"""Start and stop the embedded SecantusDB server as a child process (development default).

SecantusDB is GPL-2.0 and does its work in Python: running it as a separate process keeps its
licence and its CPU off our event loop.

Its oplog (`local.oplog.rs`) is kept as short as SecantusDB allows (see `start_embedded`); in
production size the oplog and backups against CHAT_SHREDDING_WINDOW_DAYS (README, production notes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from chat_service.logging import get_logger
from chat_service.storage.database import wait_until_ready

log = get_logger(__name__)


class EmbeddedDatabaseError(Exception):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_executable() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedDatabaseError("secantusd-py not found: install the SecantusDB package")
    return found


@dataclass
class EmbeddedDatabase:
    process: asyncio.subprocess.Process
    uri: str
    storage_path: Path

    async def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout_s)
        except TimeoutError:
            log.warning("embedded_db_kill", reason="did not stop after SIGTERM")
            self.process.kill()
            await self.process.wait()


async def start_embedded(data_dir: Path, *, startup_timeout_s: float = 30.0) -> EmbeddedDatabase:
    storage = data_dir / "db"
    storage.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_file = open(data_dir / "secantusd.log", "ab")  # noqa: SIM115, ASYNC230 - handed to the child
    try:
        process = await asyncio.create_subprocess_exec(
            find_executable(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(storage),
            "--sync-on-commit",
            # Keep the oplog as short as SecantusDB allows: it holds old versions of documents
            # (wrapped data keys, ciphertexts) that crypto-shredding can only reach through the
            # master-key epochs. Nothing here reads it (no change streams); SecantusDB still keeps
            # up to ~1,000 entries between its prunes.
            "--oplog-retention-seconds",
            "0",
            "--oplog-max-entries",
            "0",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log_file.close()
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    db = EmbeddedDatabase(process, uri, storage)
    try:
        await wait_until_ready(uri, startup_timeout_s)
    except BaseException:
        await db.stop()
        raise
    log.info("embedded_db_started", port=port, pid=process.pid)
    return db
