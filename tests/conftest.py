"""Session-wide SecantusDB process; a fresh chat server (own database) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SecantusProcess, ServerProcess

AGENT_EMAIL = "agent@example.eu"
AGENT_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusProcess]:
    db = SecantusProcess(tmp_path_factory.mktemp("secantus") / "db").start()
    yield db
    db.stop()


@pytest.fixture
def server(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(secantus.uri, tmp_path / "server").start()
    yield proc
    proc.stop()


@pytest.fixture
def agent(server: ServerProcess) -> tuple[str, str]:
    server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    return AGENT_EMAIL, AGENT_PASSWORD
