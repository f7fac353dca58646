"""The agent console: `/console/` (an HTML shell) and its hashed script and stylesheet.

Everything under `/console/` carries a strict Content-Security-Policy: the page loads only its
own files and talks only to its own origin (REST and Socket.IO).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from aiohttp import web

from chat_service.errors import NotFound
from chat_service.web.assets import CONSOLE_ASSETS, ConsoleAssets, asset_response, built

routes = web.RouteTableDef()

# 'self' in connect-src covers ws(s): to the same host in current browsers (CSP level 3).
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)

SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Support console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/{style}">
<script type="module" src="/console/{script}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The support console needs JavaScript.</noscript>
</body>
</html>
"""


def _assets(request: web.Request) -> ConsoleAssets:
    return built(request, CONSOLE_ASSETS, "console")


@web.middleware
async def console_headers_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """The CSP and framing ban on every `/console/` answer, errors and redirects included."""
    if not request.path.startswith("/console"):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Content-Security-Policy"] = CONSOLE_CSP
        exc.headers["X-Frame-Options"] = "DENY"
        raise
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers["X-Frame-Options"] = "DENY"
    return response


@routes.get("/console")
async def console_redirect(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently("/console/")


@routes.get("/console/")
@routes.get(r"/console/c/{conversation_id:c[0-9a-f]{24}}")
async def console_page(request: web.Request) -> web.Response:
    """The shell; `/console/c/<id>` is a deep link to one conversation (the script reads the path)."""
    assets = _assets(request)
    html = SHELL.format(script=escape(assets.script_name), style=escape(assets.style_name))
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


@routes.get("/console/{name}")
async def console_file(request: web.Request) -> web.Response:
    asset = _assets(request).files.get(request.match_info["name"])
    if asset is None:
        raise NotFound()
    return asset_response(request, asset, cross_origin=False)
