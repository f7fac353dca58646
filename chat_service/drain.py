"""Graceful drain on SIGTERM: stop taking work, finish what was taken, move clients elsewhere.

The sequence (`Drain.run`), bounded as a whole by `CHAT_DRAIN_GRACE_SECONDS` less a margin for
the cleanup contexts:

1. `begin()` (the signal handler, synchronous): `/readyz` answers 503 at once so the load
   balancer takes the node out; new Socket.IO handshakes get 503 (existing sockets keep working).
2. Wait for in-flight socket events to finish: every message already received is written
   (journaled, majority) and acknowledged to its sender. Connected sockets may keep sending, so
   this wait is bounded (`QUIET_WAIT_S`); step 5 catches what arrives after it.
3. Run the flush hooks (`add_flush_hook`) in registration order: a write pipeline registers one
   that sends what it still queues and waits for those writes to be acknowledged.
4. Disconnect every socket: the Socket.IO clients reconnect through the load balancer, which
   sends them to another node (this one is no longer ready); the widget resumes its
   conversation and resends any message it had not seen acknowledged (same `client_id`, so no
   duplicate is stored).
5. Wait for events that raced the disconnect, run the flush hooks again, stop the socket server.

Only then does the caller (`cli.serve`) run `runner.cleanup()`, which unwinds the cleanup
contexts in reverse order of registration: a context appended after `database_context` (a write
pipeline, metrics) closes before the database client does, so its final flush still has a
database. Nothing in the drain closes a resource; it only empties the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from chat_service.logging import get_logger
from chat_service.services import SIO

log = get_logger(__name__)
FlushHook = Callable[[], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Left of the grace period for runner.cleanup(): cleanup contexts and aiohttp's own shutdown.
CLEANUP_MARGIN_S = 4.0
DISCONNECT_TIMEOUT_S = 2.0
# Step 2 under steady traffic may never see zero events in flight: move on after this long.
QUIET_WAIT_S = 5.0


class Drain:
    """The node's drain state and sequence; one per app, under the `DRAIN` key."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.started = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._hooks: list[FlushHook] = []
        self._on_begin: list[Callable[[], None]] = []

    @property
    def draining(self) -> bool:
        return self.started.is_set()

    def add_flush_hook(self, hook: FlushHook) -> None:
        """Called during the drain, after in-flight events finished and before sockets close."""
        self._hooks.append(hook)

    def on_begin(self, callback: Callable[[], None]) -> None:
        """A synchronous callback run the moment the drain begins (e.g. a metrics gauge)."""
        self._on_begin.append(callback)

    def begin(self) -> None:
        """Mark the node as draining; safe to call from a signal handler, idempotent."""
        if self.started.is_set():
            return
        self.started.set()
        for callback in self._on_begin:
            callback()
        log.info("drain_started", grace_s=self.grace_seconds)

    @contextlib.asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """Wrap the handling of one socket event so the drain can wait for it."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _wait_idle(self) -> None:
        await self._idle.wait()

    async def _flush(self) -> None:
        for hook in self._hooks:
            try:
                await hook()
            except Exception:
                log.exception("drain_flush_hook_failed")

    async def run(self, app: web.Application) -> None:
        """Steps 2-5 above; returns within the grace period less `CLEANUP_MARGIN_S`."""
        self.begin()
        started = time.monotonic()
        budget = max(1.0, self.grace_seconds - CLEANUP_MARGIN_S)
        sio = app[SIO]
        try:
            async with asyncio.timeout(budget):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(QUIET_WAIT_S, budget / 2)):
                        await self._wait_idle()
                await self._flush()
                connected = len(sio.eio.sockets)
                if connected:
                    # A socket whose peer vanished can wait forever on its send queue: bound it.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                            await sio.eio.disconnect()
                await self._wait_idle()
                await self._flush()
                log.info("drain_done", sockets=connected, ms=round((time.monotonic() - started) * 1000))
        except TimeoutError:
            log.warning("drain_timed_out", in_flight=self._in_flight, budget_s=budget)
        await sio.shutdown()


DRAIN = web.AppKey("drain", Drain)


@web.middleware
async def drain_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While draining, refuse new Socket.IO sessions; requests of existing ones (`sid=`) go on."""
    drain = request.app.get(DRAIN)
    if drain is not None and drain.draining and request.path.startswith("/socket.io/") and "sid" not in request.query:
        return web.json_response(
            {"error": {"code": "draining", "message": "This node is shutting down; connect again."}},
            status=503,
            headers={"Retry-After": "1", "Connection": "close"},
        )
    return await handler(request)


def add_drain(app: web.Application, grace_seconds: float) -> Drain:
    drain = Drain(grace_seconds)
    app[DRAIN] = drain
    app.middlewares.append(drain_middleware)
    return drain
