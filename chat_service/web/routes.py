"""`/widget.js`, `/widget/<file>` and the stateless `GET /api/widget/availability`."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web

from chat_service.bots import BotRunner
from chat_service.bots.texts import LABEL, language_of
from chat_service.errors import Forbidden, NotFound
from chat_service.services import SERVICES, SETTINGS
from chat_service.sites import SITES, own_origins
from chat_service.web.assets import ASSETS, WidgetAssets, asset_response, built

routes = web.RouteTableDef()
BUNDLE_NAME = re.compile(r"chat-[0-9a-f]{12}\.js")


def _assets(request: web.Request) -> WidgetAssets:
    return built(request, ASSETS, "widget")


@routes.get("/widget.js")
async def loader(request: web.Request) -> web.Response:
    return asset_response(request, _assets(request).loader)


@routes.get("/widget/{name}")
async def widget_file(request: web.Request) -> web.Response:
    assets = _assets(request)
    name = request.match_info["name"]
    asset = assets.files.get(name)
    if asset is not None:
        return asset_response(request, asset)
    if BUNDLE_NAME.fullmatch(name):
        # A loader cached before the last deploy asks for the bundle it knew: send the current one.
        raise web.HTTPFound(
            f"/widget/{assets.bundle_name}", headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}
        )
    raise NotFound()


async def public_bot(runner: BotRunner, site_id: str, lang: str | None) -> dict[str, object] | None:
    """What the widget shows before contact: the bot's name, greeting and the fixed AI label."""
    await runner.registry.refresh()
    bot = runner.registry.get(site_id)
    if bot is None:
        return None
    language = language_of(lang)
    return {
        "name": bot.config.name,
        "greeting": bot.greeting(language),
        "label": LABEL[language],
        "within_hours": bot.within_hours(datetime.now(UTC)),
    }


@routes.get("/api/widget/availability")
async def availability(request: web.Request) -> web.Response:
    """Whether someone can answer now, and the notice to show. Stores nothing, sets no cookie."""
    site = request.app[SITES].get(request.query.get("site"))
    if site is None:
        raise NotFound("Unknown site.")
    origin = request.headers.get("Origin")
    if not site.allows_origin(origin, own_origins(request, request.app[SETTINGS].public_url)):
        raise Forbidden("This site does not allow this origin.")
    notice = site.notice(request.query.get("lang"))
    services = request.app[SERVICES]
    response = web.json_response(
        {
            # Presence is shared by every node, so any node answers for the whole deployment.
            # Only agents who chose `online` count: away and offline agents do not answer chats.
            "online": bool(await services.presence.available()),
            "notice": {"version": site.notice_version, "text": notice.text, "link": notice.link},
            "bot": await public_bot(services.bots, site.id, request.query.get("lang")),
        }
    )
    response.headers["Vary"] = "Origin"
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response
