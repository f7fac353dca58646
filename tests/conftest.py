"""Session-wide SecantusDB process; a fresh chat server (own database) per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from chat_service.storage import Database
from chat_service.storage.database import make_client
from tests.helpers import SecantusProcess, ServerProcess

AGENT_EMAIL = "agent@example.eu"
AGENT_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecantusProcess]:
    db = SecantusProcess(tmp_path_factory.mktemp("secantus") / "db").start()
    yield db
    db.stop()


@pytest.fixture
async def db(secantus: SecantusProcess) -> AsyncIterator[Database]:
    """A database of its own on the session's SecantusDB (for storage-level tests), dropped after."""
    database = Database(make_client(secantus.uri, 5000, pool_size=4), "p_" + uuid.uuid4().hex[:12])
    await database.ensure_indexes()
    yield database
    await database.client.drop_database(database.db.name)
    await database.close()


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
