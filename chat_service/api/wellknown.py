"""`/.well-known/security.txt` (RFC 9116): where to report a vulnerability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from chat_service.api.contract import ApiRoutes
from chat_service.errors import NotFound
from chat_service.services import SETTINGS
from chat_service.sites import own_origins

routes = ApiRoutes()
PATH = "/.well-known/security.txt"
# RFC 9116 2.5.5: Expires should be less than a year away; the file is generated, so it never goes stale.
VALID_FOR = timedelta(days=180)


def security_txt(contact: str, canonical: str, now_iso: str) -> str:
    return f"Contact: {contact}\nExpires: {now_iso}\nPreferred-Languages: en\nCanonical: {canonical}\n"


@routes.api(
    "GET", PATH, "Where to report a vulnerability (RFC 9116)", access="none", statuses=(404,), ok_type="text/plain"
)
async def security(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.security_contact is None:
        raise NotFound("No security contact is configured (CHAT_SECURITY_CONTACT).")
    # The file belongs at the origin's root, whatever path CHAT_PUBLIC_URL has.
    base = min(own_origins(None, settings.public_url)) if settings.public_url else f"{request.scheme}://{request.host}"
    expires = (datetime.now(UTC) + VALID_FOR).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = security_txt(settings.security_contact, base + PATH, expires)
    return web.Response(
        text=text, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "max-age=86400"}
    )
