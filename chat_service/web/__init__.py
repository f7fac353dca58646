"""The visitor widget over HTTP: the loader, the hashed bundle, availability, and the dev demo page."""

from __future__ import annotations

from aiohttp import web

from chat_service.logging import get_logger
from chat_service.settings import Settings
from chat_service.sites import SITES, load_sites
from chat_service.web import demo, routes
from chat_service.web.assets import ASSETS, load_assets

__all__ = ["setup_widget"]

log = get_logger(__name__)


def setup_widget(app: web.Application, settings: Settings) -> None:
    """Register the widget's routes and what they share (sites, built files) on the app."""
    sites = load_sites(settings)
    app[SITES] = sites
    assets = load_assets()
    if assets is None:
        log.warning("widget_not_built", advice="run scripts/install (npm ci and npm run build in widget/)")
    else:
        app[ASSETS] = assets
    app.add_routes(routes.routes)
    if settings.dev:
        app.add_routes(demo.routes)
