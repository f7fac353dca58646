"""A tiny website that embeds the widget, as a customer's site would: its own origin, a strict
Content-Security-Policy that names only the chat server for script, connect and images (a site's
logo), a hostile stylesheet, and an endpoint that collects CSP violation reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example shop</title>
<link rel="stylesheet" href="/host.css">
</head>
<body>
<main>
<h1>Example shop</h1>
<p>Fine goods, shipped across the EU. Questions? Use the chat button.</p>
</main>
<script src="{chat}/widget.js" data-site="{site}" data-lang="{lang}" async></script>
</body>
</html>
"""

# Rules a careless theme might have: none of them may reach into the widget.
HOSTILE_CSS = """
div { display: none !important; }
button { background: #f0f !important; font-family: serif !important; }
* { color: #c00; font-family: serif; line-height: 3; }
"""


@dataclass
class HostSite:
    origin: str
    chat_origin: str
    csp_reports: list[dict[str, Any]] = field(default_factory=list)

    def url(self, lang: str = "en") -> str:
        return f"{self.origin}/?lang={lang}"

    @property
    def csp(self) -> str:
        ws = self.chat_origin.replace("http://", "ws://", 1)
        return (
            f"default-src 'none'; script-src {self.chat_origin}; connect-src {self.chat_origin} {ws}; "
            f"style-src 'self'; img-src 'self' {self.chat_origin}; base-uri 'none'; form-action 'none'; "
            "report-uri /csp-report"
        )


async def start_host_site(port: int, chat_origin: str, site_id: str) -> tuple[web.AppRunner, HostSite]:
    host = HostSite(origin=f"http://localhost:{port}", chat_origin=chat_origin)

    async def page(request: web.Request) -> web.Response:
        lang = "nl" if request.query.get("lang") == "nl" else "en"
        html = PAGE.format(chat=chat_origin, site=site_id, lang=lang)
        return web.Response(text=html, content_type="text/html", headers={"Content-Security-Policy": host.csp})

    async def stylesheet(request: web.Request) -> web.Response:
        return web.Response(text=HOSTILE_CSS, content_type="text/css")

    async def csp_report(request: web.Request) -> web.Response:
        host.csp_reports.append(json.loads(await request.read()))
        return web.Response(status=204)

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/host.css", stylesheet)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_post("/csp-report", csp_report)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "localhost", port).start()
    return runner, host
