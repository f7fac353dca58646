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
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.conversations import iso
from chat_service.erasure import ENDINGS
from chat_service.models import Conversation
from chat_service.schemas.http import BreachWindowBody, EraseBody, ExportBody, SubjectQueryBody
from chat_service.services import SERVICES
from retention.subject import SubjectQuery

routes = ApiRoutes()
JSON_FILE = "A JSON file (Content-Disposition: attachment; Cache-Control: no-store)"


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


@routes.api(
    "POST",
    "/api/privacy/find",
    "A data subject's conversations by e-mail (blind index) or id: ids, times and state only (admin)",
    access="admin",
    body=SubjectQueryBody,
)
async def find(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    query = await parse_body(request, SubjectQueryBody)
    await request.app[SERVICES].conversations.fold_bookkeeping()  # exact counts and times
    found = await request.app[SERVICES].privacy.find(
        SubjectQuery(email=query.email, conversation_id=query.conversation_id), actor_id=who.user.id
    )
    return web.json_response({"conversations": [conversation_summary(c) for c in found]})


@routes.api(
    "POST",
    "/api/privacy/export",
    "Everything stored about these conversations, decrypted (Art. 15/20; admin)",
    access="admin",
    body=ExportBody,
    statuses=(404,),
    ok=JSON_FILE,
)
async def export(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    privacy = request.app[SERVICES].privacy
    ids = (await parse_body(request, ExportBody)).ids()
    await request.app[SERVICES].conversations.fold_bookkeeping()  # exact counts and times
    conversations = await privacy.load(ids)
    document = await privacy.export(conversations, actor_id=who.user.id)
    return json_file(document, f"export-{document['request']}.json")


@routes.api(
    "POST",
    "/api/privacy/erase",
    "Delete these conversations and destroy their data keys, now (Art. 17; admin)",
    access="admin",
    body=EraseBody,
    statuses=(404,),
)
async def erase(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    privacy = request.app[SERVICES].privacy
    conversations = await privacy.load((await parse_body(request, EraseBody)).ids())
    erased = await privacy.erase(conversations, actor_id=who.user.id)
    # This node acts now; the others (and their sockets) follow within one endings poll.
    endings = request.app[ENDINGS]
    for conv in conversations:
        await endings.apply(conv.id, "erased")
    return web.json_response({"erased": erased})


@routes.api(
    "POST",
    "/api/privacy/breach-report",
    "Conversations and pseudonymous data subjects stored or opened in a window (Art. 33; admin)",
    access="admin",
    body=BreachWindowBody,
    ok=JSON_FILE,
)
async def breach_report(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    window = await parse_body(request, BreachWindowBody)
    start, end = window.start, window.end
    report = await request.app[SERVICES].privacy.breach_report(start, end, actor_id=who.user.id)
    stamp = start.strftime("%Y%m%dT%H%MZ")
    return json_file(report, f"breach-report-{stamp}.json")
