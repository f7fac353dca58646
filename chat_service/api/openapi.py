"""The OpenAPI 3.1 document, generated from the route tables and the request models."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chat_service.api import (
    admin,
    attachments,
    bots,
    health,
    privacy,
    reports,
    search,
    session,
    teams,
    webhooks,
    wellknown,
)
from chat_service.api.contract import ApiRoutes, Operation
from chat_service.schemas import MAX_BODY_BYTES, MAX_DEPTH
from chat_service.schemas.http import WidgetAvailabilityQuery

routes = ApiRoutes()
REF = "#/components/schemas/{model}"


class Problem(BaseModel):
    """Every error answer (`application/problem+json`)."""

    code: str
    message: str
    details: dict[str, Any] | None = None


# Routes whose handlers live outside chat_service.api but belong to the REST API.
routes.document(
    Operation(
        "GET",
        "/api/widget/availability",
        "Is an agent online, and the notice to show? Stores nothing, sets no cookie",
        access="none",
        query=WidgetAvailabilityQuery,
        statuses=(403, 404),
    )
)
routes.document(
    Operation(
        "GET",
        "/api/widget/site",
        "The site's public look in the widget (team, logo, greeting, theme). Stores nothing, sets no cookie",
        access="none",
        query=WidgetAvailabilityQuery,
        statuses=(403, 404),
    )
)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _error_statuses(op: Operation) -> dict[int, str]:
    statuses: dict[int, str] = {}
    if op.body is not None or op.query is not None or op.form is not None:
        statuses[400] = "invalid_input (the field is named in details)"
    if op.body is not None:
        statuses[413] = f"payload_too_large: the body is over {MAX_BODY_BYTES // 1024} KiB"
    if op.form is not None:
        statuses[413] = "payload_too_large: the file is over CHAT_ATTACHMENT_MAX_BYTES"
    if op.path_params:
        statuses[404] = "not_found (also for a malformed id)"
    if op.access != "none":
        statuses[401] = "unauthenticated"
        statuses[403] = "forbidden, password_change_required" + (", or a missing/wrong X-CSRF-Token" if op.csrf else "")
    for status in op.statuses:
        statuses.setdefault(status, "see docs/protocol.md")
    return dict(sorted(statuses.items()))


def _operation(op: Operation, schemas: Mapping[tuple[Any, Any], dict[str, Any]]) -> dict[str, Any]:
    ok_content = {"schema": {"type": "string"}} if op.ok_type.startswith("text/") else {"schema": {"type": "object"}}
    doc: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method.lower()}{op.openapi_path.replace('/', '_').replace('{', '').replace('}', '')}",
        "responses": {str(op.ok_status): {"description": op.ok, "content": {op.ok_type: ok_content}}},
    }
    for status, description in _error_statuses(op).items():
        doc["responses"][str(status)] = _problem(description)
    if op.access != "none":
        doc["security"] = [{"session": [], "csrf": []}] if op.csrf else [{"session": []}]
    if op.access == "visitor_or_user":
        doc["security"].append({"visitor_token": []})
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", **({"pattern": p} if p else {})}}
        for name, p in op.path_params.items()
    ]
    if op.query is not None:
        query_schema = op.query.model_json_schema()
        required = set(query_schema.get("required", []))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": _plain(prop)}
            for name, prop in query_schema["properties"].items()
        ]
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[(op.body, "validation")]}},
        }
    if op.form is not None:
        fields = op.form.model_json_schema()
        schema = {
            "type": "object",
            "required": ["file", *fields.get("required", [])],
            "properties": {"file": {"type": "string", "format": "binary"}, **fields["properties"]},
        }
        doc["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    return doc


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: `int | None` becomes `integer` (absent means None)."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
    variants = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
    return {**variants[0], **schema} if variants else schema


def build_spec(tables: Iterable[ApiRoutes]) -> dict[str, Any]:
    operations = [op for table in tables for op in table.operations]
    models: list[type[BaseModel]] = [Problem, *{op.body for op in operations if op.body is not None}]
    keyed, definitions = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.openapi_path, {})[op.method.lower()] = _operation(op, keyed)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chat-service",
            "version": "1",
            "description": "REST API of chat-service. Real-time traffic uses Socket.IO; see docs/protocol.md. "
            f"Request bodies are JSON, at most {MAX_BODY_BYTES // 1024} KiB and {MAX_DEPTH} levels deep.",
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "chat_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
                "visitor_token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A visitor's conversation token (the widget's resume token).",
                },
            },
            "schemas": definitions.get("$defs", {}),
        },
        "paths": dict(sorted(paths.items())),
    }


@routes.api("GET", "/api/openapi.json", "This document", access="none")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


TABLES: tuple[ApiRoutes, ...] = (
    health.routes,
    wellknown.routes,
    session.routes,
    admin.routes,
    privacy.routes,
    webhooks.routes,
    bots.routes,
    teams.routes,
    search.routes,
    reports.routes,
    attachments.routes,
    routes,
)
SPEC: dict[str, Any] = build_spec(TABLES)
