"""What every namespace shares: error acknowledgements and access to the app's services."""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web
from socketio.exceptions import ConnectionRefusedError as SocketRefused

from chat_service.drain import DRAIN
from chat_service.errors import ChatError, InvalidInput, UnknownEvent
from chat_service.logging import get_logger
from chat_service.metrics import METRICS, count_refusal
from chat_service.schemas.socket_json import RejectedPayload
from chat_service.services import SETTINGS

log = get_logger("chat_service.sockets")

_LIFECYCLE = {"connect", "disconnect"}


def forwarded_client(forwarded_for: str, hops: int) -> str | None:
    """The X-Forwarded-For entry our `hops` trusted proxies vouch for: each appends the address it
    saw, so the client is `hops` places from the right; anything left of it the client could forge."""
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < hops or not entries[-hops]:
        return None
    return entries[-hops][:64]


def client_ip(request: web.Request | None, trust_proxy: bool) -> str | None:
    """The caller's address, for login throttling and the stored visitor address alike."""
    if request is None:
        return None
    if trust_proxy:
        settings = request.app.get(SETTINGS)
        hops = settings.proxy_hops if settings is not None else 1
        client = forwarded_client(",".join(request.headers.getall("X-Forwarded-For", [])), hops)
        if client:
            return client
    return request.remote


def refusal(error: dict[str, Any]) -> SocketRefused:
    """A connection refusal the client reads as `err.data.code` / `err.data.message`."""
    return SocketRefused(str(error.get("message", "Connection refused.")), error)


class BaseNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Dispatches `on_<event>(sid, payload)` and turns its result or error into one ack shape.

    Success: `{"ok": true, ...}`. Failure: `{"ok": false, "error": {"code", "message"}}`.
    A handler bug is logged and answered with `internal_error`; the connection stays up.
    """

    def __init__(self, namespace: str, app: web.Application):
        super().__init__(namespace)
        self.app = app

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            try:
                return await self._lifecycle(event, *args)
            except ChatError as exc:
                raise refusal(exc.to_wire()) from None
            except SocketRefused as exc:
                # A refusal with one dict argument would reach the client as its repr string.
                if len(exc.args) == 1 and isinstance(exc.args[0], dict):
                    raise refusal(exc.args[0]) from None
                raise
        if event in _LIFECYCLE:
            return await self._lifecycle(event, *args)
        async with self.app[DRAIN].in_flight():
            return await self._dispatch(event, *args)

    async def _lifecycle(self, event: str, *args: Any) -> Any:
        result = await super().trigger_event(event, *args)
        if event == "disconnect":
            self.app[METRICS].connections.labels(namespace=self.namespace).dec()
        elif result is not False:  # a refused connect raises or returns False: never counted
            self.app[METRICS].connections.labels(namespace=self.namespace).inc()
        return result

    async def _dispatch(self, event: str, *args: Any) -> Any:
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
            count_refusal(self.app, exc)
            return {"ok": False, "error": exc.to_wire()}
        except Exception:
            log.exception("socket_event_failed", namespace=self.namespace, socket_event=event)
            return {"ok": False, "error": ChatError().to_wire()}
        elapsed = time.perf_counter() - started
        log.debug("socket_event", namespace=self.namespace, socket_event=event, ms=round(elapsed * 1000, 2))
        self.app[METRICS].ack_latency.labels(namespace=self.namespace, event=event).observe(elapsed)
        return {"ok": True, **(result or {})}
