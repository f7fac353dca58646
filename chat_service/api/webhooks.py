"""Admin REST routes for webhook endpoints and their deliveries log. Every change is audited.

The deliveries log shows status, attempts, next retry and response code, never payload bodies.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.conversations import iso
from chat_service.outbox import parse_endpoint_input
from chat_service.schemas.http import WebhookChangesBody, WebhookEndpointBody
from chat_service.services import SERVICES
from chat_service.storage.outbox import Delivery, Endpoint

routes = ApiRoutes()
ENDPOINT = "/api/webhooks/{endpoint_id:we[0-9a-f]{24}}"
DELIVERY = ENDPOINT + "/deliveries/{delivery_id:msg_[0-9a-f]{24}}"


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
    return request.match_info["endpoint_id"]


@routes.api("GET", "/api/webhooks", "Webhook endpoints, without secrets (admin)", access="admin")
async def list_endpoints(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    endpoints = await request.app[SERVICES].webhooks.all()
    return web.json_response({"endpoints": [endpoint_to_wire(e) for e in endpoints]})


@routes.api(
    "POST",
    "/api/webhooks",
    "Create an endpoint; answers its whsec_ secret this once (admin)",
    access="admin",
    body=WebhookEndpointBody,
    statuses=(409,),
    ok_status=201,
)
async def create_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint, secret = await services.webhooks.create(
        parse_endpoint_input((await parse_body(request, WebhookEndpointBody)).as_input(), partial=False)
    )
    await services.audit.record(who.user.id, "webhook.created", target_type="webhook", target_id=endpoint.id)
    response = web.json_response({"endpoint": endpoint_to_wire(endpoint), "secret": secret}, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.api("PATCH", ENDPOINT, "Change an endpoint (admin)", access="admin", body=WebhookChangesBody, statuses=(404,))
async def update_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    changes = (await parse_body(request, WebhookChangesBody)).as_input()
    endpoint = await services.webhooks.update(endpoint_id, parse_endpoint_input(changes, partial=True))
    await services.audit.record(who.user.id, "webhook.updated", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"endpoint": endpoint_to_wire(endpoint)})


@routes.api("DELETE", ENDPOINT, "Delete an endpoint and its deliveries (admin)", access="admin", statuses=(404,))
async def delete_endpoint(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    await services.webhooks.delete(endpoint_id)
    await services.audit.record(who.user.id, "webhook.deleted", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"deleted": endpoint_id})


@routes.api(
    "POST",
    ENDPOINT + "/rotate-secret",
    "A new secret; the old one signs too for 24 h (admin)",
    access="admin",
    statuses=(404,),
)
async def rotate_secret(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    endpoint, secret = await services.webhooks.rotate_secret(endpoint_id)
    await services.audit.record(who.user.id, "webhook.secret_rotated", target_type="webhook", target_id=endpoint_id)
    response = web.json_response({"endpoint": endpoint_to_wire(endpoint), "secret": secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.api(
    "GET",
    ENDPOINT + "/deliveries",
    "Deliveries log: status, attempts, next retry, response code; no payloads (admin)",
    access="admin",
    statuses=(404,),
)
async def list_deliveries(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    deliveries = await request.app[SERVICES].webhooks.deliveries(_endpoint_id(request))
    return web.json_response({"deliveries": [delivery_to_wire(d) for d in deliveries]})


@routes.api(
    "POST", ENDPOINT + "/test", "Queue a webhook.test event (admin)", access="admin", statuses=(404,), ok_status=202
)
async def send_test(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    delivery = await services.webhooks.send_test(endpoint_id)
    await services.audit.record(who.user.id, "webhook.tested", target_type="webhook", target_id=endpoint_id)
    return web.json_response({"delivery": delivery_to_wire(delivery)}, status=202)


@routes.api(
    "POST",
    DELIVERY + "/redeliver",
    "Send a finished delivery again, same webhook-id (admin)",
    access="admin",
    statuses=(404, 409),
    ok_status=202,
)
async def redeliver(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    endpoint_id = _endpoint_id(request)
    delivery_id = request.match_info["delivery_id"]
    await services.webhooks.redeliver(endpoint_id, delivery_id)
    await services.audit.record(
        who.user.id,
        "webhook.redelivered",
        target_type="webhook",
        target_id=endpoint_id,
        details={"delivery": delivery_id},
    )
    return web.json_response({"queued": delivery_id}, status=202)
