"""A bare python-socketio relay: the baseline `chat_latency.py` compares the chat server against.

Same transport stack as the chat server (aiohttp + `socketio.AsyncServer`), same namespaces, same
event and ack shapes, but no storage, no encryption, no validation beyond the bare minimum: a
visitor `message` is emitted to the `agents` room of `/agent` and acknowledged straight away.

    .venv/bin/python bench/bare_relay.py --port 8099
"""

from __future__ import annotations

import argparse
import secrets
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web

AGENTS_ROOM = "agents"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class VisitorNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, sio: socketio.AsyncServer) -> None:
        super().__init__("/visitor")
        self.sio = sio
        self.conversations: dict[str, str] = {}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        return None

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.conversations.pop(sid, None)

    async def on_message(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        conversation_id = self.conversations.get(sid)
        created = conversation_id is None
        if conversation_id is None:
            conversation_id = "c" + secrets.token_hex(12)
            self.conversations[sid] = conversation_id
        message = {
            "id": "m" + secrets.token_hex(12),
            "conversation_id": conversation_id,
            "sender": "visitor",
            "client_id": payload.get("client_id"),
            "text": payload.get("text"),
            "created_at": now_iso(),
            "agent_id": None,
        }
        if created:
            conversation = {"id": conversation_id, "status": "open", "created_at": message["created_at"]}
            await self.sio.emit(
                "conversation_created",
                {"conversation": conversation, "message": message},
                room=AGENTS_ROOM,
                namespace="/agent",
            )
            return {"ok": True, "conversation_id": conversation_id, "token": "bare", "message": message}
        await self.sio.emit("message", {"message": message}, room=AGENTS_ROOM, namespace="/agent")
        return {"ok": True, "conversation_id": conversation_id, "message": message}


class AgentNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await self.enter_room(sid, AGENTS_ROOM)


async def readyz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ready"})


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    # Same server options as chat_service.app.build_socket_server (minus Redis and CORS origins).
    sio = socketio.AsyncServer(
        async_mode="aiohttp", logger=False, engineio_logger=False, max_http_buffer_size=64 * 1024
    )
    sio.register_namespace(VisitorNamespace(sio))
    sio.register_namespace(AgentNamespace("/agent"))
    sio.attach(app)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
