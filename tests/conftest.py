"""Session-wide SecantusDB process; a fresh chat server (own database) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

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


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def two_nodes(secantus: SecantusProcess, tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes of one deployment (same database and keys) sharing events through Redis."""
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError:
        pytest.fail("Redis is required on 127.0.0.1:6379 for the multi-node tests")
    first = ServerProcess(secantus.uri, tmp_path / "a", env_extra={"CHAT_REDIS_URL": REDIS_URL}).start()
    second = ServerProcess(
        secantus.uri, tmp_path / "a", database=first.database, env_extra={"CHAT_REDIS_URL": REDIS_URL}
    ).start()
    yield first, second
    first.stop()
    second.stop()
