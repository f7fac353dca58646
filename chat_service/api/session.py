"""Agent login and the session: `/api/session`, `/api/password`, one's sessions, the second factor."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from chat_service.accounts import LoggedIn
from chat_service.api.auth import CSRF_COOKIE, SESSION_COOKIE, check_staff_origin, is_https, require_user
from chat_service.api.contract import ApiRoutes
from chat_service.api.middleware import parse_body
from chat_service.conversations import iso
from chat_service.errors import ChatError, InvalidInput
from chat_service.metrics import METRICS
from chat_service.models import User
from chat_service.schemas.http import LoginBody, PasswordBody, PasswordChangeBody, SecondFactorCodeBody
from chat_service.services import SERVICES
from chat_service.sockets.base import client_ip

routes = ApiRoutes()
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


def _signed_out(response: web.Response) -> web.Response:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
    return response


@routes.api(
    "POST",
    "/api/session",
    "Log in; sets the chat_session and chat_csrf cookies (or asks for the second factor)",
    access="none",
    body=LoginBody,
    statuses=(401, 403, 429),
)
async def login(request: web.Request) -> web.Response:
    check_staff_origin(request)
    services = request.app[SERVICES]
    credentials = await parse_body(request, LoginBody)
    try:
        logged_in = await services.accounts.login(
            credentials.email,
            credentials.password,
            client_ip(request, services.settings.trust_proxy),
            request.headers.get("User-Agent"),
        )
    except ChatError as exc:
        request.app[METRICS].login_failures.labels(reason=exc.code).inc()
        raise
    return _signed_in(request, logged_in)


@routes.api(
    "POST",
    "/api/session/second-factor",
    "Second sign-in step: a TOTP or recovery code for the pending session; a new session cookie",
    access="none",
    body=SecondFactorCodeBody,
    statuses=(401, 403),
)
async def second_factor(request: web.Request) -> web.Response:
    """The second step of a sign-in: the code for the pending session in the cookie."""
    check_staff_origin(request)
    body = await parse_body(request, SecondFactorCodeBody)
    try:
        logged_in = await request.app[SERVICES].accounts.complete_second_factor(
            request.cookies.get(SESSION_COOKIE), body.code
        )
    except ChatError as exc:
        request.app[METRICS].login_failures.labels(reason=exc.code).inc()
        raise
    return _signed_in(request, logged_in)


@routes.api("GET", "/api/session", "Who am I", access="any_session")
async def current(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    accounts = request.app[SERVICES].accounts
    return web.json_response(
        {"user": user_to_wire(who.user), "second_factor_setup_required": accounts.second_factor_missing(who.user)}
    )


@routes.api("DELETE", "/api/session", "Log out; the session's sockets close", access="any_session")
async def logout(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.logout(who)
    return _signed_out(web.json_response({"ok": True}))


@routes.api("POST", "/api/password", "Change my password", access="any_session", body=PasswordChangeBody)
async def change_password(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    change = await parse_body(request, PasswordChangeBody)
    await request.app[SERVICES].accounts.change_password(who, change.current_password, change.new_password)
    return web.json_response({"ok": True})


@routes.api("GET", "/api/sessions", "My live sessions: created, last seen, coarse browser family", access="any_session")
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


@routes.api("DELETE", "/api/sessions", "Sign out everywhere, this session included", access="any_session")
async def sign_out_everywhere(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.end_all_sessions(who)
    return _signed_out(web.json_response({"ok": True}))


@routes.api(
    "DELETE",
    "/api/sessions/{session_id:[0-9a-f]{16}}",
    "Sign out one of my sessions",
    access="any_session",
    statuses=(404,),
)
async def sign_out_one(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    await request.app[SERVICES].accounts.end_own_session(who, request.match_info["session_id"])
    return web.json_response({"ok": True})


@routes.api(
    "POST",
    "/api/second-factor/enrol",
    "A new TOTP secret and otpauth:// URI, shown once",
    access="any_session",
    statuses=(409,),
)
async def enrol(request: web.Request) -> web.Response:
    """A new TOTP seed for the signed-in user, shown once; it counts after `confirm`."""
    who = await require_user(request, allow_password_change=True)
    seed, uri = await request.app[SERVICES].accounts.second_factor.begin_enrolment(who.user)
    return web.json_response({"secret": seed, "otpauth_uri": uri})


@routes.api(
    "POST",
    "/api/second-factor/confirm",
    "Turn two-factor sign-in on with a first code; the recovery codes, shown once",
    access="any_session",
    body=SecondFactorCodeBody,
    statuses=(409,),
)
async def confirm(request: web.Request) -> web.Response:
    who = await require_user(request, allow_password_change=True)
    body = await parse_body(request, SecondFactorCodeBody)
    codes = await request.app[SERVICES].accounts.second_factor.confirm_enrolment(who.user, body.code)
    return web.json_response({"recovery_codes": codes})


@routes.api("DELETE", "/api/second-factor", "Turn two-factor sign-in off (password required)", body=PasswordBody)
async def disable(request: web.Request) -> web.Response:
    who = await require_user(request)
    services = request.app[SERVICES]
    body = await parse_body(request, PasswordBody)
    await services.accounts.check_password(who, body.password)
    if services.settings.require_2fa_for_admins and who.user.role == "admin":
        raise InvalidInput("Admins must keep two-factor sign-in on here.")
    await services.accounts.second_factor.disable(who.user, who.user.id)
    return web.json_response({"ok": True})
