"""What every namespace shares: error acknowledgements and access to the app's services."""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web

from chat_service.drain import DRAIN
from chat_service.errors import ChatError, InvalidInput, UnknownEvent
from chat_service.logging import get_logger
from chat_service.metrics import METRICS

log = get_logger("chat_service.sockets")

_LIFECYCLE = {"connect", "disconnect"}
# Events that store one message when acknowledged, and whose message it is (a metrics label).
_STORES = {("/visitor", "message"): "visitor", ("/agent", "reply"): "agent"}


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
        elapsed = time.perf_counter() - started
        log.debug("socket_event", namespace=self.namespace, socket_event=event, ms=round(elapsed * 1000, 2))
        metrics = self.app[METRICS]
        metrics.ack_latency.labels(namespace=self.namespace, event=event).observe(elapsed)
        sender = _STORES.get((self.namespace, event))
        if sender is not None:
            metrics.messages_stored.labels(sender=sender).inc()
        return {"ok": True, **(result or {})}
