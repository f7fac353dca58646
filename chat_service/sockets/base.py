"""What every namespace shares: error acknowledgements and access to the app's services."""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web

from chat_service.errors import ChatError, InvalidInput, UnknownEvent
from chat_service.logging import get_logger
from chat_service.schemas.socket_json import RejectedPayload

log = get_logger("chat_service.sockets")

_LIFECYCLE = {"connect", "disconnect"}


def client_ip(request: web.Request | None, trust_proxy: bool) -> str | None:
    if request is None:
        return None
    if trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first[:64]
    return request.remote


class BaseNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Dispatches `on_<event>(sid, payload)` and turns its result or error into one ack shape.

    Success: `{"ok": true, ...}`. Failure: `{"ok": false, "error": {"code", "message"}}`.
    A handler bug is logged and answered with `internal_error`; the connection stays up.
    """

    def __init__(self, namespace: str, app: web.Application):
        super().__init__(namespace)
        self.app = app

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event in _LIFECYCLE:
            return await super().trigger_event(event, *args)
        sid, payloads = args[0], args[1:]
        started = time.perf_counter()
        handler = getattr(self, f"on_{event}", None) if isinstance(event, str) and event.isidentifier() else None
        try:
            rejected = next((p for p in payloads if isinstance(p, RejectedPayload)), None)
            if rejected is not None:  # refused while decoding (too deep, lone surrogate, not JSON)
                raise InvalidInput(rejected.reason)
            if handler is None:
                raise UnknownEvent()
            if len(payloads) > 1:
                raise InvalidInput("Send exactly one payload object.")
            result = await handler(sid, payloads[0] if payloads else None)
        except ChatError as exc:
            name = event if handler is not None else "?"
            log.info("socket_event_rejected", namespace=self.namespace, socket_event=name, code=exc.code)
            return {"ok": False, "error": exc.to_wire()}
        except Exception:
            log.exception("socket_event_failed", namespace=self.namespace, socket_event=event)
            return {"ok": False, "error": ChatError().to_wire()}
        log.debug(
            "socket_event",
            namespace=self.namespace,
            socket_event=event,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return {"ok": True, **(result or {})}
