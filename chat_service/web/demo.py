"""Dev mode only: `/` is a demo page that embeds the widget the way a website would."""

from __future__ import annotations

from html import escape

from aiohttp import web

from chat_service.sites import DEV_SITE

routes = web.RouteTableDef()

# As strict as we ask of the sites that embed us: no inline script or style, nothing third-party.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chat-service demo</title>
</head>
<body>
<main>
<h1>chat-service demo</h1>
<p>This page embeds the visitor widget exactly as a website would, under a strict
Content-Security-Policy. Open the chat button in the corner and write a message.</p>
<p>Widget language: <a href="/?lang=en">English</a> · <a href="/?lang=nl">Nederlands</a></p>
<p>Answer as an agent in the <a href="/console/">agent console</a>
(create an account first: <code>chat-service users create you@example.eu --role admin --dev</code>).</p>
<h2>Embed it on your site</h2>
<pre><code>{snippet}</code></pre>
</main>
<script src="/widget.js" data-site="{site}" data-lang="{lang}" async></script>
</body>
</html>
"""


@routes.get("/")
async def demo_page(request: web.Request) -> web.Response:
    lang = "nl" if request.query.get("lang") == "nl" else "en"
    base = f"{request.scheme}://{request.host}"
    snippet = f'<script src="{base}/widget.js" data-site="{DEV_SITE}" async></script>'
    html = PAGE.format(lang=lang, site=DEV_SITE, snippet=escape(snippet))
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Content-Security-Policy": DEMO_CSP, "Cache-Control": "no-store"},
    )
