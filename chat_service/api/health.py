"""`/healthz` (process alive) and `/readyz` (database reachable, residency verified)."""

from __future__ import annotations

from aiohttp import web

from chat_service.drain import DRAIN
from chat_service.errors import ChatError
from chat_service.residency import decide
from chat_service.services import SERVICES

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAIN].draining:
        return web.json_response({"status": "draining"}, status=503)
    services = request.app[SERVICES]
    settings = services.settings
    try:
        await services.db.ping()
    except ChatError:
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    # The topology can change at run time (a node added elsewhere): decide again, no I/O needed.
    decision = decide(services.db.nodes(), settings.allowed_regions, tag=settings.region_tag, dev=settings.dev)
    if not decision.allowed:
        return web.json_response(
            {"status": "unavailable", "database": "reachable", "residency": list(decision.problems)},
            status=503,
        )
    return web.json_response({"status": "ready", "database": "reachable", "residency": list(decision.regions)})
