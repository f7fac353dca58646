"""Admin REST routes for webhook endpoints and their deliveries log. Every change is audited.

The deliveries log shows status, attempts, next retry and response code, never payload bodies.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.middleware import read_json
from chat_service.conversations import iso
from chat_service.errors import InvalidInput, NotFound
from chat_service.outbox import parse_endpoint_input
from chat_service.outbox.endpoints import EndpointInput
from chat_service.services import SERVICES
from chat_service.storage.outbox import Delivery, Endpoint

routes = web.RouteTableDef()
_ENDPOINT_ID = re.compile(r"^we[0-9a-f]{24}$")
_DELIVERY_ID = re.compile(r"^msg_[0-9a-f]{24}$")


def endpoint_to_wire(e: Endpoint) -> dict[str, Any]:
    """No secret, in clear or not: it is shown once, when made."""
    return {
        "id": e.id,
        "url": e.url,
        "region": e.region,
        "events": list(e.events),
        "fields": list(e.fields),
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "description": e.description,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
        "secrets": len(e.secrets),
    }


def delivery_to_wire(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": iso(d.created_at),
        "last_attempt_at": iso(d.last_attempt_at),
        "next_attempt_at": iso(d.next_attempt_at) if d.status == "pending" else None,
        "delivered_at": iso(d.delivered_at),
        "response_code": d.last_status_code,
        "error": d.last_error,
    }


def _endpoint_id(request: web.Request) -> str:
    endpoint_id = request.match_info["endpoint_id"]
    if not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise NotFound("No such webhook endpoint.")
    return endpoint_id


async def parse_endpoint_body(request: web.Request, *, partial: bool) -> EndpointInput:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InvalidInput("Send a JSON object.")
    return parse_endpoint_input(body, partial=partial)


@routes.get("/api/webhooks")
async def list_endpoints(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    endpoints = await request.app[SERVICES].webhooks.all()
    return web.json_response({"endpoints": [endpoint_to_wire(e) for e in endpoints]})


@routes.post("/api/webhooks")
async def create_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint, secret = await services.webhooks.create(await parse_endpoint_body(request, partial=False))
    await services.audit.record(who.user.id, "webhook.created", target_type="webhook", target_id=endpoint.id)
    response = web.json_response({"endpoint": endpoint_to_wire(endpoint), "secret": secret}, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.patch("/api/webhooks/{endpoint_id}")
async def update_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    endpoint = await services.webhooks.update(endpoint_id, await parse_endpoint_body(request, partial=True))
    await services.audit.record(who.user.id, "webhook.updated", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"endpoint": endpoint_to_wire(endpoint)})


@routes.delete("/api/webhooks/{endpoint_id}")
async def delete_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    await services.webhooks.delete(endpoint_id)
    await services.audit.record(who.user.id, "webhook.deleted", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"deleted": endpoint_id})


@routes.post("/api/webhooks/{endpoint_id}/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    endpoint, secret = await services.webhooks.rotate_secret(endpoint_id)
    await services.audit.record(who.user.id, "webhook.secret_rotated", target_type="webhook", target_id=endpoint_id)
    response = web.json_response({"endpoint": endpoint_to_wire(endpoint), "secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/api/webhooks/{endpoint_id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    deliveries = await request.app[SERVICES].webhooks.deliveries(_endpoint_id(request))
    return web.json_response({"deliveries": [delivery_to_wire(d) for d in deliveries]})


@routes.post("/api/webhooks/{endpoint_id}/test")
async def send_test(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    delivery = await services.webhooks.send_test(endpoint_id)
    await services.audit.record(who.user.id, "webhook.tested", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"delivery": delivery_to_wire(delivery)}, status=202)


@routes.post("/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    delivery_id = request.match_info["delivery_id"]
    if not _DELIVERY_ID.fullmatch(delivery_id):
        raise NotFound("No such delivery.")
    await services.webhooks.redeliver(endpoint_id, delivery_id)
    await services.audit.record(
        who.user.id,
        "webhook.redelivered",
        target_type="webhook",
        target_id=endpoint_id,
        details={"delivery": delivery_id},
    )
    return web.json_response({"queued": delivery_id}, status=202)
