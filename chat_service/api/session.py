"""Agent login and the session: `/api/session`, `/api/password`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chat_service.api.auth import CSRF_COOKIE, SESSION_COOKIE, is_https, require_user
from chat_service.api.middleware import read_json
from chat_service.errors import ChatError
from chat_service.metrics import METRICS
from chat_service.models import User
from chat_service.services import SERVICES
from chat_service.sockets.base import client_ip
from chat_service.validation import parse_login, parse_password_change

routes = web.RouteTableDef()


def user_to_wire(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
    }


@routes.post("/api/session")
async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    credentials = parse_login(await read_json(request))
    try:
        logged_in = await services.accounts.login(
            credentials.email, credentials.password, client_ip(request, services.settings.trust_proxy)
        )
    except ChatError as exc:
        request.app[METRICS].login_failures.labels(reason=exc.code).inc()
        raise
    response = web.json_response({"user": user_to_wire(logged_in.user), "csrf_token": logged_in.csrf_token})
    secure = is_https(request)
    max_age = services.settings.session_idle_minutes * 60
    response.set_cookie(
        SESSION_COOKIE,
        logged_in.session_secret,
        httponly=True,
        samesite="Strict",
        secure=secure,
        path="/",
        max_age=max_age,
    )
    # Readable by the console's script (double submit); useless to another site under SameSite=Strict.
    response.set_cookie(CSRF_COOKIE, logged_in.csrf_token, samesite="Strict", secure=secure, path="/", max_age=max_age)
    return response


@routes.get("/api/session")
async def current(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    return web.json_response({"user": user_to_wire(who.user)})


@routes.delete("/api/session")
async def logout(request: web.Request) -> web.Response:
    await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.logout(request.cookies.get(SESSION_COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


@routes.post("/api/password")
async def change_password(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    change = parse_password_change(await read_json(request))
    await request.app[SERVICES].accounts.change_password(who, change.current, change.new)
    return web.json_response({"ok": True})
