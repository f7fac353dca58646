"""Admin REST routes for data-subject requests: find, export, erase, breach report.

The domain (`retention.subject`) decides and writes the audit events; these routes parse, check
the admin's session and CSRF token, and answer. Every route is a POST: e-mail addresses stay out of
URLs (and so out of proxy logs), and each call is recorded, so none is a safe method.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.middleware import read_json
from chat_service.conversations import iso
from chat_service.erasure import ENDINGS
from chat_service.models import Conversation
from chat_service.services import SERVICES
from chat_service.validation import (
    parse_breach_window,
    parse_erase_request,
    parse_export_request,
    parse_subject_query,
)
from retention.subject import SubjectQuery

routes = web.RouteTableDef()


def conversation_summary(conv: Conversation) -> dict[str, Any]:
    """What a search may show: ids, timestamps and state, nothing the visitor wrote or said."""
    return {
        "id": conv.id,
        "status": conv.status,
        "offline": conv.offline,
        "created_at": iso(conv.created_at),
        "last_activity_at": iso(conv.last_activity_at),
        "closed_at": iso(conv.closed_at),
        "message_count": conv.message_count,
        "pseudonymised": conv.pseudonymised_by is not None,
    }


def json_file(data: dict[str, Any], filename: str) -> web.Response:
    response = web.Response(text=json.dumps(data, indent=2, ensure_ascii=False) + "\n", content_type="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/api/privacy/find")
async def find(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    email, conversation_id = parse_subject_query(await read_json(request))
    found = await request.app[SERVICES].privacy.find(
        SubjectQuery(email=email, conversation_id=conversation_id), actor_id=who.user.id
    )
    return web.json_response({"conversations": [conversation_summary(c) for c in found]})


@routes.post("/api/privacy/export")
async def export(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    privacy = request.app[SERVICES].privacy
    conversations = await privacy.load(parse_export_request(await read_json(request)))
    document = await privacy.export(conversations, actor_id=who.user.id)
    return json_file(document, f"export-{document['request']}.json")


@routes.post("/api/privacy/erase")
async def erase(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    privacy = request.app[SERVICES].privacy
    conversations = await privacy.load(parse_erase_request(await read_json(request)))
    erased = await privacy.erase(conversations, actor_id=who.user.id)
    # This node acts now; the others (and their sockets) follow within one endings poll.
    endings = request.app[ENDINGS]
    for conv in conversations:
        await endings.apply(conv.id, "erased")
    return web.json_response({"erased": erased})


@routes.post("/api/privacy/breach-report")
async def breach_report(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    start, end = parse_breach_window(await read_json(request))
    report = await request.app[SERVICES].privacy.breach_report(start, end, actor_id=who.user.id)
    stamp = start.strftime("%Y%m%dT%H%MZ")
    return json_file(report, f"breach-report-{stamp}.json")
