"""The browser-facing files: the visitor widget (loader, bundle, availability), the agent console,
and the dev demo page."""

from __future__ import annotations

from aiohttp import web

from chat_service.agent_names import AGENT_NAMES, AgentNames
from chat_service.logging import get_logger
from chat_service.reply_times import REPLY_TIMES, ReplyTimes
from chat_service.settings import Settings
from chat_service.sites import SITES, load_sites
from chat_service.web import console, demo, routes
from chat_service.web.assets import ASSETS, CONSOLE_ASSETS, load_assets, load_console_assets

__all__ = ["setup_widget"]

log = get_logger(__name__)


def setup_widget(app: web.Application, settings: Settings) -> None:
    """Register the widget's and the console's routes and what they share (sites, built files)."""
    sites = load_sites(settings)
    app[SITES] = sites
    app[REPLY_TIMES] = ReplyTimes()
    app[AGENT_NAMES] = AgentNames()
    assets = load_assets()
    if assets is None:
        log.warning("widget_not_built", advice="run scripts/install (npm ci and npm run build in widget/)")
    else:
        app[ASSETS] = assets
    console_assets = load_console_assets()
    if console_assets is None:
        log.warning("console_not_built", advice="run scripts/install (npm ci and npm run build in widget/)")
    else:
        app[CONSOLE_ASSETS] = console_assets
    app.add_routes(routes.routes)
    app.add_routes(console.routes)
    if settings.dev:
        app.add_routes(demo.routes)
