"""Agent login: `POST/GET/DELETE /api/session` with an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chat_service.api.middleware import read_json
from chat_service.models import User
from chat_service.services import SERVICES
from chat_service.sockets.agent import SESSION_COOKIE
from chat_service.validation import parse_login

routes = web.RouteTableDef()


def is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    settings = request.app[SERVICES].settings
    return settings.trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def user_to_wire(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "role": user.role, "display_name": user.display_name}


@routes.post("/api/session")
async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    credentials = parse_login(await read_json(request))
    user, secret = await services.accounts.login(credentials.email, credentials.password)
    response = web.json_response({"user": user_to_wire(user)})
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
        path="/",
        max_age=services.settings.session_idle_minutes * 60,
    )
    return response


@routes.get("/api/session")
async def current(request: web.Request) -> web.Response:
    authenticated = await request.app[SERVICES].accounts.authenticate(request.cookies.get(SESSION_COOKIE))
    return web.json_response({"user": user_to_wire(authenticated.user)})


@routes.delete("/api/session")
async def logout(request: web.Request) -> web.Response:
    await request.app[SERVICES].accounts.logout(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
