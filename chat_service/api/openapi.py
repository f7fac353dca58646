"""The OpenAPI 3.1 description of the REST API, served at `/api/openapi.json`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

routes = web.RouteTableDef()

_PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _op(
    summary: str,
    *,
    body: dict[str, Any] | None = None,
    ok: str = "OK",
    auth: bool = True,
    csrf: bool = False,
    params: list[dict[str, Any]] | None = None,
    statuses: tuple[int, ...] = (),
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": ok}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if auth:
        op["security"] = [{"session": [], "csrf": []}] if csrf else [{"session": []}]
    if params:
        op["parameters"] = params
    for status in (400, 401, 403, *statuses) if auth or body else statuses:
        op["responses"][str(status)] = {
            "description": "Problem",
            "content": {"application/problem+json": {"schema": _PROBLEM}},
        }
    return op


def _obj(required: list[str], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": props}


_STR: dict[str, Any] = {"type": "string"}
_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^u[0-9a-f]{24}$"},
}
_ITEM_ID = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^r[0-9a-f]{16}$"},
}
_CANNED = _obj(
    ["shortcut", "title", "text"],
    shortcut={"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
    title={"type": "string", "maxLength": 100},
    text={"type": "string", "maxLength": 4000},
)

_CONVERSATION_ID = {"type": "string", "pattern": "^c[0-9a-f]{24}$"}
_CONVERSATION_IDS = {"type": "array", "items": _CONVERSATION_ID, "minItems": 1, "maxItems": 200, "uniqueItems": True}
_INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with a time zone"}


def _json_file(summary: str, body: dict[str, Any], statuses: tuple[int, ...] = ()) -> dict[str, Any]:
    op = _op(summary, csrf=True, body=body, statuses=statuses)
    op["responses"]["200"] = {
        "description": "A JSON file (Content-Disposition: attachment; Cache-Control: no-store)",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
    return op


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "chat-service",
        "version": "1",
        "description": "REST API of chat-service. Real-time traffic uses Socket.IO; see docs/protocol.md.",
    },
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "chat_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
        },
        "schemas": {
            "Problem": _obj(["code", "message"], code=_STR, message=_STR, details={"type": "object"}),
        },
    },
    "paths": {
        "/healthz": {"get": _op("Process alive", auth=False)},
        "/readyz": {"get": _op("Database reachable and residency verified", auth=False, statuses=(503,))},
        "/api/session": {
            "post": _op(
                "Log in; sets the chat_session and chat_csrf cookies",
                auth=False,
                statuses=(400, 401, 429),
                body=_obj(["email", "password"], email=_STR, password=_STR),
            ),
            "get": _op("Who am I"),
            "delete": _op("Log out", csrf=True),
        },
        "/api/password": {
            "post": _op(
                "Change my password",
                csrf=True,
                body=_obj(
                    ["current_password", "new_password"],
                    current_password=_STR,
                    new_password={"type": "string", "minLength": 12},
                ),
            )
        },
        "/api/users": {
            "get": _op("List staff accounts (admin)"),
            "post": _op(
                "Create an account with a one-time password (admin)",
                csrf=True,
                statuses=(409,),
                body=_obj(["email", "role"], email=_STR, role={"enum": ["agent", "admin"]}, display_name=_STR),
            ),
        },
        "/api/users/{user_id}": {
            "patch": _op(
                "Change role, disable/enable, rename (admin)",
                csrf=True,
                params=[_USER_ID],
                statuses=(404, 409),
                body=_obj([], role={"enum": ["agent", "admin"]}, disabled={"type": "boolean"}, display_name=_STR),
            )
        },
        "/api/users/{user_id}/reset-password": {
            "post": _op(
                "Reset a password; the user must change it at next login (admin)",
                csrf=True,
                params=[_USER_ID],
                statuses=(404,),
            )
        },
        "/api/canned": {
            "get": _op("List canned responses"),
            "post": _op("Create a canned response (admin)", csrf=True, body=_CANNED, statuses=(409,)),
        },
        "/api/canned/{item_id}": {
            "put": _op("Replace a canned response (admin)", csrf=True, body=_CANNED, params=[_ITEM_ID]),
            "delete": _op("Delete a canned response (admin)", csrf=True, params=[_ITEM_ID], statuses=(404,)),
        },
        "/api/audit": {
            "get": _op(
                "Audit events, newest first (admin)",
                params=[
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    {"name": "before", "in": "query", "schema": {"type": "integer"}},
                ],
            )
        },
        "/api/privacy/find": {
            "post": _op(
                "A data subject's conversations by e-mail (blind index) or id: ids, times and state only (admin)",
                csrf=True,
                body={
                    "oneOf": [
                        _obj(["email"], email={"type": "string", "format": "email"}),
                        _obj(["conversation_id"], conversation_id=_CONVERSATION_ID),
                    ]
                },
            )
        },
        "/api/privacy/export": {
            "post": _json_file(
                "Everything stored about these conversations, decrypted (Art. 15/20; admin)",
                _obj(["conversation_ids"], conversation_ids=_CONVERSATION_IDS),
                statuses=(404,),
            )
        },
        "/api/privacy/erase": {
            "post": _op(
                "Delete these conversations and destroy their data keys, now (Art. 17; admin)",
                csrf=True,
                statuses=(404,),
                body=_obj(
                    ["conversation_ids", "confirm"], conversation_ids=_CONVERSATION_IDS, confirm={"const": "ERASE"}
                ),
            )
        },
        "/api/privacy/breach-report": {
            "post": _json_file(
                "Conversations and pseudonymous data subjects stored or opened in a window (Art. 33; admin)",
                _obj(["from", "to"], **{"from": _INSTANT, "to": _INSTANT}),
            )
        },
        "/api/widget/availability": {
            "get": _op(
                "Is an agent online? Stores nothing, sets no cookie",
                auth=False,
                params=[
                    {"name": "site", "in": "query", "required": True, "schema": _STR},
                    {"name": "lang", "in": "query", "schema": _STR},
                ],
                statuses=(403, 404),
            )
        },
        "/api/openapi.json": {"get": _op("This document", auth=False)},
    },
}

# --- webhooks (chat_service/api/webhooks.py) ---------------------------------------------------
_ENDPOINT_ID = {
    "name": "endpoint_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^we[0-9a-f]{24}$"},
}
_DELIVERY_ID = {
    "name": "delivery_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^msg_[0-9a-f]{24}$"},
}
_EVENTS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "enum": [
            "conversation.created",
            "message.created",
            "conversation.assigned",
            "conversation.status_changed",
            "conversation.handed_over",
            "privacy.erased",
        ]
    },
}
_FIELDS = {
    "type": "array",
    "items": {"enum": ["message.text", "visitor.name", "visitor.email", "visitor.page_url", "visitor.language"]},
}
_ENDPOINT_PROPS: dict[str, Any] = {
    "url": {"type": "string", "maxLength": 2000, "description": "https outside dev mode; no private addresses"},
    "region": {"type": "string", "maxLength": 64, "description": "Where the receiver is hosted (EU/EEA list)"},
    "events": _EVENTS,
    "fields": _FIELDS,
    "description": {"type": "string", "maxLength": 200},
    "enabled": {"type": "boolean"},
}
SPEC["paths"].update(
    {
        "/api/webhooks": {
            "get": _op("Webhook endpoints, without secrets (admin)"),
            "post": _op(
                "Create an endpoint; answers its whsec_ secret this once (admin)",
                csrf=True,
                statuses=(409,),
                body=_obj(["url", "region", "events"], **_ENDPOINT_PROPS),
            ),
        },
        "/api/webhooks/{endpoint_id}": {
            "patch": _op(
                "Change an endpoint (admin)",
                csrf=True,
                params=[_ENDPOINT_ID],
                statuses=(404,),
                body=_obj([], **_ENDPOINT_PROPS),
            ),
            "delete": _op(
                "Delete an endpoint and its deliveries (admin)", csrf=True, params=[_ENDPOINT_ID], statuses=(404,)
            ),
        },
        "/api/webhooks/{endpoint_id}/rotate-secret": {
            "post": _op(
                "A new secret; the old one signs too for 24 h (admin)",
                csrf=True,
                params=[_ENDPOINT_ID],
                statuses=(404,),
            )
        },
        "/api/webhooks/{endpoint_id}/deliveries": {
            "get": _op(
                "Deliveries log: status, attempts, next retry, response code; no payloads (admin)",
                params=[_ENDPOINT_ID],
                statuses=(404,),
            )
        },
        "/api/webhooks/{endpoint_id}/test": {
            "post": _op("Queue a webhook.test event (admin)", csrf=True, params=[_ENDPOINT_ID], statuses=(404,))
        },
        "/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver": {
            "post": _op(
                "Send a finished delivery again, same webhook-id (admin)",
                csrf=True,
                params=[_ENDPOINT_ID, _DELIVERY_ID],
                statuses=(404, 409),
            )
        },
    }
)


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)
