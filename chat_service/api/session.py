"""Agent login and the session: `/api/session`, `/api/password`, one's sessions, the second factor."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from chat_service.accounts import LoggedIn
from chat_service.api.auth import CSRF_COOKIE, SESSION_COOKIE, check_staff_origin, is_https, require_user
from chat_service.api.middleware import read_json
from chat_service.conversations import iso
from chat_service.errors import InvalidInput, NotFound
from chat_service.models import User
from chat_service.services import SERVICES
from chat_service.sockets.base import client_ip
from chat_service.validation import parse_login, parse_password_change

routes = web.RouteTableDef()
SESSION_PUBLIC_ID = re.compile(r"^[0-9a-f]{16}$")


def user_to_wire(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
        "second_factor": user.totp_enabled,
    }


def parse_code(payload: object) -> str:
    """`{"code": "123456"}` (a TOTP code) or a recovery code such as `"a1b2c-3d4e5"`."""
    if not isinstance(payload, Mapping) or set(payload) != {"code"} or not isinstance(payload["code"], str):
        raise InvalidInput('Send {"code": "..."}.', details={"field": "code"})
    code = payload["code"].strip()
    if not 6 <= len(code) <= 20:
        raise InvalidInput("'code' is 6 digits or a recovery code.", details={"field": "code"})
    return code


def parse_password_only(payload: object) -> str:
    """`{"password": "..."}`: re-authentication before a sensitive change."""
    if not isinstance(payload, Mapping) or set(payload) != {"password"} or not isinstance(payload["password"], str):
        raise InvalidInput('Send {"password": "..."}.', details={"field": "password"})
    if not 1 <= len(payload["password"]) <= 1024:
        raise InvalidInput("'password' is required.", details={"field": "password"})
    return str(payload["password"])


def _session_id(request: web.Request) -> str:
    public_id = request.match_info["session_id"]
    if not SESSION_PUBLIC_ID.fullmatch(public_id):
        raise NotFound("No such session.")
    return public_id


def _with_cookies(request: web.Request, response: web.Response, logged_in: LoggedIn) -> web.Response:
    settings = request.app[SERVICES].settings
    secure = is_https(request)
    max_age = min(settings.session_idle_minutes * 60, settings.session_max_days * 86_400)
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


def _signed_in(request: web.Request, logged_in: LoggedIn) -> web.Response:
    if logged_in.second_factor_required:
        # Only the user's existence is certain now; the account stays unseen until the code checks.
        body: dict[str, Any] = {"second_factor_required": True, "csrf_token": logged_in.csrf_token}
    else:
        body = {"user": user_to_wire(logged_in.user), "csrf_token": logged_in.csrf_token}
    return _with_cookies(request, web.json_response(body), logged_in)


@routes.post("/api/session")
async def login(request: web.Request) -> web.Response:
    check_staff_origin(request)
    services = request.app[SERVICES]
    credentials = parse_login(await read_json(request))
    logged_in = await services.accounts.login(
        credentials.email,
        credentials.password,
        client_ip(request, services.settings.trust_proxy),
        request.headers.get("User-Agent"),
    )
    return _signed_in(request, logged_in)


@routes.post("/api/session/second-factor")
async def second_factor(request: web.Request) -> web.Response:
    """The second step of a sign-in: the code for the pending session in the cookie."""
    check_staff_origin(request)
    code = parse_code(await read_json(request))
    logged_in = await request.app[SERVICES].accounts.complete_second_factor(request.cookies.get(SESSION_COOKIE), code)
    return _signed_in(request, logged_in)


@routes.get("/api/session")
async def current(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    accounts = request.app[SERVICES].accounts
    return web.json_response(
        {"user": user_to_wire(who.user), "second_factor_setup_required": accounts.second_factor_missing(who.user)}
    )


@routes.delete("/api/session")
async def logout(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.logout(who)
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


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    sessions = await request.app[SERVICES].accounts.sessions_of(who)
    return web.json_response(
        {
            "sessions": [
                {
                    "id": s.public_id,
                    "created_at": iso(s.created_at),
                    "last_seen_at": iso(s.last_seen_at),
                    "client": s.client,
                    "current": current,
                }
                for s, current in sessions
            ]
        }
    )


@routes.delete("/api/sessions")
async def sign_out_everywhere(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.end_all_sessions(who)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


@routes.delete("/api/sessions/{session_id}")
async def sign_out_one(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.end_own_session(who, _session_id(request))
    return web.json_response({"ok": True})


@routes.post("/api/second-factor/enrol")
async def enrol(request: web.Request) -> web.Response:
    """A new TOTP seed for the signed-in user, shown once; it counts after `confirm`."""
    who = await require_user(request, allow_password_change=True)
    seed, uri = await request.app[SERVICES].accounts.second_factor.begin_enrolment(who.user)
    return web.json_response({"secret": seed, "otpauth_uri": uri})


@routes.post("/api/second-factor/confirm")
async def confirm(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    code = parse_code(await read_json(request))
    codes = await request.app[SERVICES].accounts.second_factor.confirm_enrolment(who.user, code)
    return web.json_response({"recovery_codes": codes})


@routes.delete("/api/second-factor")
async def disable(request: web.Request) -> web.Response:
    who = await require_user(request)
    services = request.app[SERVICES]
    await services.accounts.check_password(who, parse_password_only(await read_json(request)))
    if services.settings.require_2fa_for_admins and who.user.role == "admin":
        raise InvalidInput("Admins must keep two-factor sign-in on here.")
    await services.accounts.second_factor.disable(who.user, who.user.id)
    return web.json_response({"ok": True})
