"""`/widget.js`, `/widget/<file>`, a site's logo, and the stateless widget API: the site's public
look (`GET /api/widget/site`, read by the loader on page load) and whether someone can answer
(`GET /api/widget/availability`, read when the panel opens). None of them stores anything or sets a
cookie."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web

from chat_service.bots import BotRunner
from chat_service.bots.texts import LABEL, language_of
from chat_service.errors import Forbidden, NotFound
from chat_service.reply_times import REPLY_TIMES
from chat_service.services import SERVICES, SETTINGS
from chat_service.sites import LANGUAGES, SITES, Site, own_origins
from chat_service.web.assets import ASSETS, IMMUTABLE_CACHE, WidgetAssets, asset_response, built

routes = web.RouteTableDef()
BUNDLE_NAME = re.compile(r"chat-[0-9a-f]{12}\.js")
SITE_CACHE = "public, max-age=300"
# A logo opened on its own is an image and nothing else.
LOGO_CSP = "default-src 'none'; sandbox"


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


@routes.get("/widget/logo/{site}/{digest}")
async def logo(request: web.Request) -> web.Response:
    site = request.app[SITES].get(request.match_info["site"])
    if site is None or site.branding.logo is None:
        raise NotFound()
    image = site.branding.logo
    if request.match_info["digest"] != image.digest:
        # A page cached before the logo changed: point it at the current one.
        raise web.HTTPFound(f"/widget/logo/{site.id}/{image.digest}", headers={"Cache-Control": "no-store"})
    headers = {
        "Cache-Control": IMMUTABLE_CACHE,
        "Cross-Origin-Resource-Policy": "cross-origin",  # shown on the sites' pages
        "Content-Security-Policy": LOGO_CSP,
    }
    return web.Response(body=image.body, content_type=image.content_type, headers=headers)


def logo_path(site: Site) -> str | None:
    image = site.branding.logo
    return None if image is None else f"/widget/logo/{site.id}/{image.digest}"


def _language(request: web.Request) -> str:
    lang = request.query.get("lang")
    return lang if lang in LANGUAGES else "en"


def _site(request: web.Request) -> Site:
    """The `site` asked for, if the request's origin may embed it (else 404 or 403)."""
    site = request.app[SITES].get(request.query.get("site"))
    if site is None:
        raise NotFound("Unknown site.")
    if not site.allows_origin(request.headers.get("Origin"), own_origins(request, request.app[SETTINGS].public_url)):
        raise Forbidden("This site does not allow this origin.")
    return site


def _answer(request: web.Request, body: object, cache_control: str | None = None) -> web.Response:
    response = web.json_response(body)
    response.headers["Vary"] = "Origin"
    if cache_control:
        response.headers["Cache-Control"] = cache_control
    origin = request.headers.get("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


@routes.get("/api/widget/site")
async def site_look(request: web.Request) -> web.Response:
    """The site's public look, in `lang`: the same for every visitor, so browsers may cache it."""
    site = _site(request)
    lang, branding = _language(request), site.branding
    return _answer(
        request,
        {
            "team_name": branding.team_name,
            "logo": logo_path(site),
            "greeting": branding.greeting(lang),
            "color": branding.color,
            "text_color": branding.text_color,
            "position": branding.position,
            "launcher": branding.launcher(lang),
        },
        SITE_CACHE,
    )


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
    """Whether someone can answer now, how soon they usually do, the notice to show and the site's bot."""
    site = _site(request)
    notice = site.notice(request.query.get("lang"))
    services = request.app[SERVICES]
    return _answer(
        request,
        {
            # Presence is shared by every node, so any node answers for the whole deployment.
            # Only agents who chose `online` count: away and offline agents do not answer chats.
            "online": bool(await services.presence.available()),
            "reply_time": await request.app[REPLY_TIMES].for_site(services.db.widget, site.id),
            "notice": {"version": site.notice_version, "text": notice.text, "link": notice.link},
            "bot": await public_bot(services.bots, site.id, request.query.get("lang")),
        },
    )
