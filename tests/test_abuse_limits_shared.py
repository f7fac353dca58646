"""The new-conversations limit is one budget per address across nodes: in Redis, or in MongoDB without it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["redis", "mongodb"])
def two_nodes(
    request: pytest.FixtureRequest, secantus: SecantusProcess, tmp_path: Path
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"CHAT_TRUST_PROXY": "true", "CHAT_LIMIT_CONVERSATIONS_PER_HOUR": "3"}
    if request.param == "redis":
        try:
            redis.Redis.from_url(REDIS_URL).ping()
        except redis.exceptions.ConnectionError:
            pytest.fail("Redis is required on 127.0.0.1:6379 for this test")
        env["CHAT_REDIS_URL"] = REDIS_URL
    first = ServerProcess(secantus.uri, tmp_path / "n", env_extra=env).start()
    second = ServerProcess(secantus.uri, tmp_path / "n", database=first.database, env_extra=env).start()
    yield first, second
    first.stop()
    second.stop()


async def test_new_conversations_per_address_are_counted_across_nodes(
    two_nodes: tuple[ServerProcess, ServerProcess],
) -> None:
    address = {"X-Forwarded-For": f"192.0.2.{sum(map(ord, two_nodes[0].database)) % 250 + 1}"}
    acks = []
    for node in (two_nodes[0], two_nodes[1], two_nodes[0], two_nodes[1]):
        visitor, _ = await visitor_client(node, headers=address)
        acks.append(await call(visitor, "/visitor", "message", {"client_id": "v", "text": "hallo"}))
        await visitor.disconnect()
    assert [ack["ok"] for ack in acks] == [True, True, True, False]
    assert acks[3]["error"]["code"] == "rate_limited"
    assert two_nodes[0].db().conversations.count_documents({}) == 3
