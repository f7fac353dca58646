"""The drain sequence step by step, in process (the SIGTERM path end to end is in test_cluster.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from aiohttp import web

from chat_service.app import create_app
from chat_service.drain import DRAIN
from chat_service.metrics import METRICS
from chat_service.settings import load_settings
from tests.helpers import SecantusProcess, free_port, new_hmac_keys_file, new_key_ring_file
from tests.waiting import eventually


@pytest.fixture
async def running(secantus: SecantusProcess, tmp_path: Path) -> AsyncIterator[tuple[web.Application, str]]:
    settings = load_settings(
        {
            "CHAT_DEV": "true",
            "MONGODB_URI": secantus.uri,
            "CHAT_MONGODB_DATABASE": "t_" + uuid.uuid4().hex[:12],
            "CHAT_DATA_DIR": str(tmp_path / "var"),
            "CHAT_MASTER_KEY_FILE": str(new_key_ring_file(tmp_path / "master.keys")),
            "CHAT_HMAC_KEYS_FILE": str(new_hmac_keys_file(tmp_path / "hmac.keys")),
            "CHAT_DRAIN_GRACE_SECONDS": "10",
        }
    )
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def test_drain_turns_readyz_503_refuses_new_sockets_and_moves_connected_ones(
    running: tuple[web.Application, str],
) -> None:
    app, url = running
    assert await status_of(url + "/readyz") == 200
    visitor = socketio.AsyncClient(reconnection=False)
    dropped: list[str] = []
    visitor.on("disconnect", lambda reason=None: dropped.append(str(reason)), namespace="/visitor")
    await visitor.connect(url, namespaces=["/visitor"], transports=["websocket"])

    drain = app[DRAIN]
    drain.begin()
    assert await status_of(url + "/readyz") == 503
    assert await status_of(url + "/healthz") == 200  # alive: the supervisor must not kill it early
    late = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await late.connect(url, namespaces=["/visitor"], transports=["polling"], wait_timeout=5)
    # A socket that was already connected is still served until the drain closes it.
    ack = await visitor.call("message", {"client_id": "d1", "text": "sent while draining"}, namespace="/visitor")
    assert ack["ok"], ack
    assert app[METRICS].registry.get_sample_value("chat_draining") == 1

    flushed: list[str] = []

    async def flush() -> None:
        flushed.append("flushed")

    drain.add_flush_hook(flush)
    await drain.run(app)
    await eventually(lambda: dropped, what="the connected visitor to be disconnected")
    assert flushed  # the write pipeline's hook point ran
    await visitor.disconnect()
