"""Admin REST routes: users, canned responses, the audit log. Every change is audited."""

from __future__ import annotations

import secrets

from aiohttp import web

from chat_service.api.auth import require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body, parse_query
from chat_service.api.session import user_to_wire
from chat_service.api.teams import move_staff_sockets
from chat_service.conversations import iso, utcnow
from chat_service.errors import InvalidInput, NotFound
from chat_service.models import CannedResponse
from chat_service.schemas.http import AuditQuery, CannedBody, NewUserBody, UserChangesBody
from chat_service.services import SERVICES, Services
from chat_service.validation import USER_ID

routes = ApiRoutes()
USER_PATH = "/api/users/{user_id:u[0-9a-f]{24}}"
CANNED_PATH = "/api/canned/{item_id:r[0-9a-f]{16}}"


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not USER_ID.fullmatch(user_id):
        raise NotFound("No such user.")
    return user_id


async def _disconnect_user(services: Services, user_id: str) -> None:
    """Close every socket of this user on every node (python-socketio forwards remote ones)."""
    for sid in await services.presence.sockets_of(user_id):
        await services.sio.disconnect(sid, namespace="/agent")


@routes.api("GET", "/api/users", "List staff accounts (admin)", access="admin")
async def list_users(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    users = await request.app[SERVICES].db.users.all()
    return web.json_response({"users": [user_to_wire(u) for u in users]})


@routes.api(
    "POST",
    "/api/users",
    "Create an account with a one-time password (admin)",
    access="admin",
    body=NewUserBody,
    statuses=(409,),
    ok_status=201,
)
async def create_user(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    new = await parse_body(request, NewUserBody)
    user, temporary = await request.app[SERVICES].accounts.admin_create(who.user, new.email, new.role, new.display_name)
    return web.json_response({"user": user_to_wire(user), "temporary_password": temporary}, status=201)


@routes.api(
    "PATCH",
    USER_PATH,
    "Change role, disable/enable, rename (admin)",
    access="admin",
    body=UserChangesBody,
    statuses=(409,),
)
async def update_user(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    user_id = _user_id(request)
    changes = (await parse_body(request, UserChangesBody)).changes()
    if user_id == who.user.id and (changes.get("disabled") or changes.get("role") == "agent"):
        raise InvalidInput("You cannot disable or demote yourself.")
    user = await services.accounts.admin_update(who.user, user_id, changes)
    if user.disabled:
        await _disconnect_user(services, user_id)
    elif "role" in changes:
        await move_staff_sockets(request)  # an admin sees every site, an agent their teams' only
    return web.json_response({"user": user_to_wire(user)})


@routes.api(
    "POST",
    USER_PATH + "/reset-password",
    "Reset a password; the user must change it at next login (admin)",
    access="admin",
)
async def reset_password(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    user_id = _user_id(request)
    temporary = await services.accounts.admin_reset_password(who.user, user_id)
    await _disconnect_user(services, user_id)
    return web.json_response({"temporary_password": temporary})


@routes.api("GET", "/api/canned", "List canned responses")
async def list_canned(request: web.Request) -> web.Response:
    await require_user(request)
    items = await request.app[SERVICES].db.canned.all()
    return web.json_response(
        {"canned": [{"id": c.id, "shortcut": c.shortcut, "title": c.title, "text": c.text} for c in items]}
    )


async def _save_canned(request: web.Request, item_id: str) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    canned = await parse_body(request, CannedBody)
    shortcut, title, text = canned.shortcut, canned.title, canned.text
    await services.db.canned.upsert(CannedResponse(item_id, shortcut, title, text, utcnow()))
    await services.audit.record(who.user.id, "canned.saved", target_type="canned", target_id=item_id)
    return web.json_response({"canned": {"id": item_id, "shortcut": shortcut, "title": title, "text": text}})


@routes.api("POST", "/api/canned", "Create a canned response (admin)", access="admin", body=CannedBody, statuses=(409,))
async def create_canned(request: web.Request) -> web.Response:
    return await _save_canned(request, "r" + secrets.token_hex(8))


@routes.api("PUT", CANNED_PATH, "Replace a canned response (admin)", access="admin", body=CannedBody, statuses=(409,))
async def update_canned(request: web.Request) -> web.Response:
    return await _save_canned(request, request.match_info["item_id"])


@routes.api("DELETE", CANNED_PATH, "Delete a canned response (admin)", access="admin")
async def delete_canned(request: web.Request) -> web.Response:
    who = await require_user(request, admin=True)
    services = request.app[SERVICES]
    item_id = request.match_info["item_id"]
    if not await services.db.canned.delete(item_id):
        raise NotFound("No such canned response.")
    await services.audit.record(who.user.id, "canned.deleted", target_type="canned", target_id=item_id)
    return web.json_response({"ok": True})


@routes.api("GET", "/api/audit", "Audit events, newest first (admin)", access="admin", query=AuditQuery)
async def audit_log(request: web.Request) -> web.Response:
    await require_user(request, admin=True)
    query = parse_query(request, AuditQuery)
    events = await request.app[SERVICES].db.audit.recent(query.limit, query.before)
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
