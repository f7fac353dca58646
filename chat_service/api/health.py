"""`/healthz` (process alive) and `/readyz` (database reachable, residency verified).

Both answer anyone, so they say only a status: node addresses and regions are for operators
(`chat-service check`) and the server's log, not for anonymous callers.
"""

from __future__ import annotations

from aiohttp import web

from chat_service.api.contract import ApiRoutes
from chat_service.drain import DRAIN
from chat_service.errors import ChatError
from chat_service.logging import get_logger
from chat_service.residency import decide
from chat_service.services import SERVICES

routes = ApiRoutes()
log = get_logger(__name__)


@routes.api("GET", "/healthz", "Process alive: {status: ok}", access="none")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.api(
    "GET", "/readyz", "Ready to serve: {status: ready} or 503 {status: unavailable}", access="none", statuses=(503,)
)
async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAIN].draining:
        return web.json_response({"status": "draining"}, status=503)
    services = request.app[SERVICES]
    settings = services.settings
    try:
        await services.db.ping()
    except ChatError:
        return web.json_response({"status": "unavailable"}, status=503)
    # The topology can change at run time (a node added elsewhere): decide again, no I/O needed.
    decision = decide(services.db.nodes(), settings.allowed_regions, tag=settings.region_tag, dev=settings.dev)
    if not decision.allowed:
        log.warning("readiness_residency_failed", problems=len(decision.problems))
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})
