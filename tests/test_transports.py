"""Socket.IO's default transport path: long-polling first, then the upgrade to a WebSocket.

Browsers behind proxies that buffer WebSockets, and every client with default options, take this
path; the rest of the suite connects straight over WebSocket.
"""

from __future__ import annotations

import socketio

from tests.helpers import ServerProcess, call
from tests.waiting import eventually


async def test_a_polling_client_upgrades_to_websocket_and_chats(server: ServerProcess) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, namespaces=["/visitor"], wait_timeout=10)
    try:
        await eventually(lambda: client.transport() == "websocket", what="the upgrade to WebSocket")
        ack = await call(client, "/visitor", "message", {"client_id": "upgrade-1", "text": "after the upgrade"})
        assert ack["ok"], ack
        assert server.db().messages.count_documents({}) == 1
    finally:
        await client.disconnect()
