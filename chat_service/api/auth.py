"""Who is calling: the session cookie, the CSRF header on state-changing requests, the role."""

from __future__ import annotations

from aiohttp import web

from chat_service.accounts import Authenticated
from chat_service.errors import Forbidden, ForbiddenOrigin
from chat_service.services import SERVICES
from chat_service.sockets.agent import staff_origin_allowed

SESSION_COOKIE = "chat_session"
CSRF_COOKIE = "chat_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_staff_origin(request: web.Request) -> None:
    """Staff routes answer the service's own origin (and CHAT_ALLOWED_ORIGINS), never a widget site's."""
    if not staff_origin_allowed(request, request.headers.get("Origin")):
        raise ForbiddenOrigin()


async def require_user(
    request: web.Request, *, admin: bool = False, allow_password_change: bool = False
) -> Authenticated:
    check_staff_origin(request)
    who = await request.app[SERVICES].accounts.authenticate(
        request.cookies.get(SESSION_COOKIE), allow_password_change=allow_password_change
    )
    if request.method not in SAFE_METHODS:
        who.check_csrf(request.headers.get(CSRF_HEADER))
    if admin and who.user.role != "admin":
        raise Forbidden("Only admins may do this.")
    return who


def is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    settings = request.app[SERVICES].settings
    return settings.trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https"
