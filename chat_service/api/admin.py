"""Admin REST routes: users, canned responses, the audit log. Every change is audited."""

from __future__ import annotations

import secrets

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.middleware import read_json
from chat_service.api.session import user_to_wire
from chat_service.conversations import iso, utcnow
from chat_service.errors import InvalidInput, NotFound
from chat_service.models import CannedResponse
from chat_service.services import SERVICES, Services
from chat_service.validation import USER_ID, parse_canned, parse_new_user, parse_user_changes

routes = web.RouteTableDef()


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not USER_ID.fullmatch(user_id):
        raise NotFound("No such user.")
    return user_id


async def _disconnect_user(services: Services, user_id: str) -> None:
    """Close every socket of this user on every node (python-socketio forwards remote ones)."""
    for sid in await services.presence.sockets_of(user_id):
        await services.sio.disconnect(sid, namespace="/agent")


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    users = await request.app[SERVICES].db.users.all()
    return web.json_response({"users": [user_to_wire(u) for u in users]})


@routes.post("/api/users")
async def create_user(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    email, role, display_name = parse_new_user(await read_json(request))
    user, temporary = await request.app[SERVICES].accounts.admin_create(
        who.user, email, "admin" if role == "admin" else "agent", display_name
    )
    return web.json_response({"user": user_to_wire(user), "temporary_password": temporary}, status=201)


@routes.patch("/api/users/{user_id}")
async def update_user(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    user_id = _user_id(request)
    changes = parse_user_changes(await read_json(request))
    if user_id == who.user.id and (changes.get("disabled") or changes.get("role") == "agent"):
        raise InvalidInput("You cannot disable or demote yourself.")
    user = await services.accounts.admin_update(who.user, user_id, changes)
    if user.disabled:
        await _disconnect_user(services, user_id)
    return web.json_response({"user": user_to_wire(user)})


@routes.post("/api/users/{user_id}/reset-password")
async def reset_password(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    user_id = _user_id(request)
    temporary = await services.accounts.admin_reset_password(who.user, user_id)
    await _disconnect_user(services, user_id)
    return web.json_response({"temporary_password": temporary})


@routes.get("/api/canned")
async def list_canned(request: web.Request) -> web.Response:
    await require_user(request)
    items = await request.app[SERVICES].db.canned.all()
    return web.json_response(
        {"canned": [{"id": c.id, "shortcut": c.shortcut, "title": c.title, "text": c.text} for c in items]}
    )


async def _save_canned(request: web.Request, item_id: str) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    shortcut, title, text = parse_canned(await read_json(request))
    await services.db.canned.upsert(CannedResponse(item_id, shortcut, title, text, utcnow()))
    await services.audit.record(who.user.id, "canned.saved", target_type="canned", target_id=item_id)
    return web.json_response({"canned": {"id": item_id, "shortcut": shortcut, "title": title, "text": text}})


@routes.post("/api/canned")
async def create_canned(request: web.Request) -> web.Response:
    return await _save_canned(request, "r" + secrets.token_hex(8))


@routes.put("/api/canned/{item_id:r[0-9a-f]{16}}")
async def update_canned(request: web.Request) -> web.Response:
    return await _save_canned(request, request.match_info["item_id"])


@routes.delete("/api/canned/{item_id:r[0-9a-f]{16}}")
async def delete_canned(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    item_id = request.match_info["item_id"]
    if not await services.db.canned.delete(item_id):
        raise NotFound("No such canned response.")
    await services.audit.record(who.user.id, "canned.deleted", target_type="canned", target_id=item_id)
    return web.json_response({"ok": True})


@routes.get("/api/audit")
async def audit_log(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    try:
        limit = min(500, max(1, int(request.query.get("limit", "100"))))
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        raise InvalidInput("'limit' and 'before' must be whole numbers.") from None
    events = await request.app[SERVICES].db.audit.recent(limit, before)
    return web.json_response(
        {
            "events": [
                {
                    "seq": e.seq,
                    "at": iso(e.at),
                    "actor_id": e.actor_id,
                    "action": e.action,
                    "target_type": e.target_type,
                    "target_id": e.target_id,
                    "details": e.details,
                }
                for e in events
            ]
        }
    )
