"""`create_app(settings)`: routes, the Socket.IO server, and one cleanup context per resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from functools import partial
from typing import Any

import socketio
from aiohttp import web

from chat_service.accounts import Accounts
from chat_service.api import (
    admin,
    attachments,
    bots,
    health,
    openapi,
    privacy,
    reports,
    search,
    session,
    teams,
    webhooks,
    wellknown,
)
from chat_service.api.middleware import Handler, errors_middleware, hide_server_banner, security_headers_middleware
from chat_service.attachments import Attachments
from chat_service.audit import AuditLog
from chat_service.bots import BotClient, BotRegistry, BotRunner
from chat_service.bots.admin import BotAdmin
from chat_service.conversations import Conversations
from chat_service.crypto import HmacKeys, KeyRingError, KeyRingSource
from chat_service.drain import DRAIN, add_drain
from chat_service.embedded import start_embedded
from chat_service.erasure import ENDINGS, EndingsWatcher
from chat_service.limits import limits_context
from chat_service.logging import get_logger, own_config
from chat_service.mail import Mailer, SmtpConfig
from chat_service.metrics import METRICS, add_metrics
from chat_service.outbox import DeliveryWorker, Outbox, Webhooks, WebhookSender
from chat_service.outbox.events import MailRoute
from chat_service.pipeline import WritePipeline
from chat_service.presence import Presence
from chat_service.reports import Reports
from chat_service.residency import ResidencyDecision, decide
from chat_service.schemas import socket_json
from chat_service.search import Search
from chat_service.services import SERVICES, SETTINGS, SIO, Services
from chat_service.settings import Settings
from chat_service.sites import SITES, own_origins
from chat_service.sockets.agent import NAMESPACE as AGENT_NAMESPACE
from chat_service.sockets.agent import AgentNamespace, close_agent_sockets, staff_origin_allowed
from chat_service.sockets.bot_events import SocketBotEvents
from chat_service.sockets.visitor import NAMESPACE as VISITOR_NAMESPACE
from chat_service.sockets.visitor import VisitorNamespace, close_conversation_sockets
from chat_service.storage import Database
from chat_service.storage.database import discovered_nodes, make_client
from chat_service.teams import Teams
from chat_service.tracing import tracing_context, tracing_middleware
from chat_service.waiting import WaitingNotifier
from chat_service.web import setup_widget
from chat_service.web.console import console_headers_middleware
from retention.policies import load_policies
from retention.subject import DataSubjectRequests

log = get_logger(__name__)
DATABASE = web.AppKey("database", Database)
PIPELINE = web.AppKey("pipeline", WritePipeline)
KEYS = web.AppKey("keys", KeyRingSource)
EMBEDDED_URI_FILE = "secantusd.uri"


class ResidencyRefused(Exception):
    def __init__(self, decision: ResidencyDecision):
        self.decision = decision
        super().__init__(decision.summary())


OriginCheck = Callable[[str | None, dict[str, Any]], bool]


def origin_check(app: web.Application) -> OriginCheck:
    """Which browser origins may open Socket.IO: ours, CHAT_ALLOWED_ORIGINS, and every site's.

    One list to configure: a site's origins in the sites file are enough for its widget.
    """

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        settings = app[SETTINGS]
        if origin is None or "*" in settings.allowed_origins or origin in settings.allowed_origins:
            return True
        if origin in own_origins(environ.get("aiohttp.request"), settings.public_url):
            return True
        sites = app.get(SITES)
        return sites is not None and origin in sites.origins()

    return allowed


@web.middleware
async def socket_credentials_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Engine.IO allows credentials for every origin it accepts; only staff origins get them.

    A widget site's origin may open `/visitor` (which needs no cookie), but a response that
    lets its script send the agent cookie along would let it drive `/agent` over polling.
    """
    response = await handler(request)
    if request.path.startswith("/socket.io/") and not staff_origin_allowed(request, request.headers.get("Origin")):
        response.headers.pop("Access-Control-Allow-Credentials", None)
    return response


class SocketPacket(socketio.packet.Packet):  # type: ignore[misc]
    """Socket.IO packets decoded with the bounded JSON module (depth, size, lone surrogates)."""

    json = socket_json


def build_socket_server(settings: Settings, allowed_origins: OriginCheck) -> socketio.AsyncServer:
    # Nodes that share a database share a channel, so two deployments on one Redis stay apart.
    manager = (
        socketio.AsyncRedisManager(settings.redis_url, channel=f"chat-service:{settings.mongodb_database}")
        if settings.redis_url
        else None
    )
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=allowed_origins,
        # Logger objects, not False: with False both libraries attach their own plain-text handler.
        logger=logging.getLogger("socketio.server"),
        engineio_logger=logging.getLogger("engineio.server"),
        max_http_buffer_size=64 * 1024,
        # Only Socket.IO packets use the bounded decoder: passing `json=` would hand it to Engine.IO
        # too, whose upgrade probe ("2probe") must fail to parse as JSON, which ours never does.
        serializer=SocketPacket,
    )


async def check_residency(db: Database, settings: Settings) -> ResidencyDecision:
    nodes = await discovered_nodes(db, timeout_s=settings.mongodb_timeout_ms / 1000)
    return decide(nodes, settings.allowed_regions, tag=settings.region_tag, dev=settings.dev)


def load_keys(settings: Settings) -> KeyRingSource:
    source = KeyRingSource(settings.effective_master_key_file, settings.master_keys, create=settings.dev)
    if source.generated:
        log.warning(
            "dev_master_key_generated",
            path=str(settings.effective_master_key_file),
            advice="development only: set CHAT_MASTER_KEY_FILE to a key kept apart from the database",
        )
    return source


def load_hmac_keys(settings: Settings) -> HmacKeys:
    path = settings.effective_hmac_keys_file
    if path is None:
        raise KeyRingError("no HMAC key file configured (CHAT_HMAC_KEYS_FILE)")
    keys, generated = HmacKeys.load(path, create=settings.dev)
    if generated:
        log.warning("dev_hmac_keys_generated", path=str(path), advice="development only")
    return keys


def create_app(settings: Settings) -> web.Application:
    # Header middlewares go outermost so that every answer carries them, errors included.
    app = web.Application(
        middlewares=[
            tracing_middleware,  # outermost: a span covers the whole answer (no-op unless tracing is on)
            security_headers_middleware,
            console_headers_middleware,
            errors_middleware,
            socket_credentials_middleware,
            attachments.preflight_middleware,
        ],
        client_max_size=64 * 1024,
    )
    app.on_response_prepare.append(hide_server_banner)
    app[SETTINGS] = settings
    sio = build_socket_server(settings, origin_check(app))
    sio.register_namespace(VisitorNamespace(VISITOR_NAMESPACE, app))
    agent_namespace = AgentNamespace(AGENT_NAMESPACE, app)
    sio.register_namespace(agent_namespace)
    sio.attach(app)
    app[SIO] = sio
    app.add_routes(health.routes)
    app.add_routes(session.routes)
    app.add_routes(admin.routes)
    app.add_routes(privacy.routes)
    app.add_routes(openapi.routes)
    app.add_routes(wellknown.routes)
    app.add_routes(webhooks.routes)
    app.add_routes(bots.routes)
    app.add_routes(teams.routes)
    app.add_routes(search.routes)
    app.add_routes(reports.routes)
    app.add_routes(attachments.routes)
    setup_widget(app, settings)
    app.cleanup_ctx.append(tracing_context)
    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(pipeline_context)
    app.cleanup_ctx.append(services_context)
    app.cleanup_ctx.append(outbox_worker_context)
    app.cleanup_ctx.append(agent_namespace.sweeper_context)
    app.cleanup_ctx.append(limits_context)
    app.cleanup_ctx.append(endings_context)
    app.cleanup_ctx.append(waiting_context)
    # Graceful drain (SIGTERM) and Prometheus metrics: see drain.py and metrics.py.
    metrics = add_metrics(app)
    add_drain(app, settings.drain_grace_seconds).on_begin(lambda: metrics.draining.set(1))
    return app


async def database_context(app: web.Application) -> AsyncIterator[None]:
    """The embedded database (when no MONGODB_URI is set) and the client, opened and closed here."""
    settings = app[SETTINGS]
    embedded = None
    uri = settings.mongodb_uri
    if uri is None:
        embedded = await start_embedded(settings.data_dir)
        uri = embedded.uri
        (settings.data_dir / EMBEDDED_URI_FILE).write_text(uri)
    db = Database(make_client(uri, settings.mongodb_timeout_ms, settings.mongodb_pool_size), settings.mongodb_database)
    try:
        app[DATABASE] = db
        yield
    finally:
        await db.close()
        if embedded is not None:
            (settings.data_dir / EMBEDDED_URI_FILE).unlink(missing_ok=True)
            await embedded.stop()
            log.info("embedded_db_stopped")


async def pipeline_context(app: web.Application) -> AsyncIterator[None]:
    """The write pipeline (group commit): started before the handlers, drained before the database closes."""
    settings = app[SETTINGS]
    pipeline = WritePipeline(
        app[DATABASE],
        max_batch=settings.write_batch_max,
        max_wait_s=settings.write_queue_max_wait_ms / 1000,
        bookkeeping_interval_s=settings.bookkeeping_interval_ms / 1000,
        metrics=app[METRICS],
    )
    pipeline.start()
    # A node that died before folding its last bookkeeping in: recount from the messages.
    await pipeline.recover()
    app[PIPELINE] = pipeline
    # On SIGTERM the drain stores and acknowledges what is queued before the sockets close.
    app[DRAIN].add_flush_hook(pipeline.stop)
    try:
        yield
    finally:
        await pipeline.stop()


async def services_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = app[DATABASE]
    residency = await check_residency(db, settings)
    if not residency.allowed:
        raise ResidencyRefused(residency)
    log.info("residency_verified", regions=own_config(list(residency.regions)))
    await db.ensure_indexes()
    keys = load_keys(settings)
    app[KEYS] = keys
    hmac_keys = load_hmac_keys(settings)
    audit = AuditLog(db, hmac_keys)
    presence = Presence(db)
    outbox = Outbox(db, retention=timedelta(days=settings.outbox_retention_days), mail=mail_route(app))
    await outbox.refresh()
    app[PIPELINE].on_deliveries(outbox.notify)
    conversations = Conversations(
        db,
        keys,
        resume_days=settings.resume_token_days,
        hmac_keys=hmac_keys,
        pipeline=app[PIPELINE],
        outbox=outbox,
    )
    sites = app.get(SITES)
    registry = BotRegistry(db, {site.id: site.bot for site in sites or () if site.bot is not None})
    await registry.refresh(force=True)
    bot_client = BotClient(dev=settings.dev)

    async def site_of(conversation_id: str) -> str | None:
        return (await conversations.get(conversation_id)).site_id

    bot_runner = BotRunner(
        conversations,
        registry,
        SocketBotEvents(app[SIO], site_of),
        db=db,
        hmac_keys=hmac_keys,
        client=bot_client,
        timeout_s=settings.bot_timeout_s,
    )
    webhooks_admin = Webhooks(db, keys, outbox, allowed_regions=settings.allowed_regions, dev=settings.dev)
    app[SERVICES] = Services(
        settings=settings,
        db=db,
        conversations=conversations,
        accounts=Accounts(
            db,
            idle_minutes=settings.session_idle_minutes,
            audit=audit,
            hmac_keys=hmac_keys,
            max_days=settings.session_max_days,
            require_2fa_for_admins=settings.require_2fa_for_admins,
            close_sockets=partial(close_agent_sockets, app[SIO]),
        ),
        audit=audit,
        presence=presence,
        hmac_keys=hmac_keys,
        sio=app[SIO],
        residency=residency,
        privacy=DataSubjectRequests(
            db, keys, hmac_keys, load_policies(settings.retention_policies_file), outbox=outbox
        ),
        outbox=outbox,
        webhooks=webhooks_admin,
        bots=bot_runner,
        bot_admin=BotAdmin(
            db,
            registry,
            bot_runner,
            conversations,
            webhooks_admin,
            site_ids=lambda: [site.id for site in sites or ()],
            dev=settings.dev,
            allowed_regions=tuple(settings.allowed_regions),
        ),
        teams=Teams(db, audit),
        search=Search(db, conversations, hmac_keys, audit),
        reports=Reports(db),
        attachments=Attachments(
            db,
            conversations,
            max_bytes=settings.attachment_max_bytes,
            max_pixels=settings.attachment_max_pixels,
        ),
    )
    heartbeat = asyncio.create_task(presence.run_heartbeat())
    sweeper = asyncio.create_task(bot_runner.run_sweeper())
    try:
        yield
    finally:
        await stop_task(sweeper)
        await bot_runner.stop()
        await bot_client.close()
        await stop_task(heartbeat)
        await presence.forget_node()


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a background task of a cleanup context and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def endings_context(app: web.Application) -> AsyncIterator[None]:
    """Watch for conversations erased or forgotten anywhere; drop their keys and sockets here."""
    services = app[SERVICES]

    async def close_sockets(conversation_id: str, reason: Any) -> None:
        await close_conversation_sockets(app[SIO], conversation_id, reason)

    watcher = EndingsWatcher(
        services.db,
        services.conversations.forget_cached_key,
        close_sockets,
        poll_seconds=services.settings.endings_poll_seconds,
    )
    app[ENDINGS] = watcher
    task = asyncio.create_task(watcher.run())
    try:
        yield
    finally:
        await stop_task(task)


async def waiting_context(app: web.Application) -> AsyncIterator[None]:
    """The "waiting too long" e-mail to the site's team (CHAT_WAITING_NOTIFY_MINUTES; off when 0)."""
    settings = app[SETTINGS]
    services = app[SERVICES]
    if not settings.waiting_notify_minutes or not services.outbox.mail_enabled:
        yield
        return
    notifier = WaitingNotifier(services.db, app[KEYS], services.outbox, minutes=settings.waiting_notify_minutes)
    task = asyncio.create_task(notifier.run())
    try:
        yield
    finally:
        await stop_task(task)


async def outbox_worker_context(app: web.Application) -> AsyncIterator[None]:
    """The delivery worker of this process (webhooks); leases keep the nodes' workers apart."""
    settings = app[SETTINGS]
    services = app[SERVICES]
    if not settings.outbox_worker:
        yield
        return
    sender = WebhookSender(dev=settings.dev, timeout_s=settings.outbox_timeout_s)
    worker = DeliveryWorker(
        services.db,
        app[KEYS],
        services.outbox,
        services.webhooks,
        sender,
        concurrency=settings.outbox_concurrency,
        timeout_s=settings.outbox_timeout_s,
        poll_s=settings.outbox_poll_ms / 1000,
        retention=timedelta(days=settings.outbox_retention_days),
        mailer=mailer(settings),
        observe=lambda kind, outcome: app[METRICS].outbox_deliveries.labels(kind=kind, outcome=outcome).inc(),
    )
    task = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        await stop_task(task)
        await sender.close()


def smtp_config(settings: Settings) -> SmtpConfig | None:
    if settings.smtp_host is None or settings.smtp_from is None:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        tls="implicit" if settings.smtp_tls == "implicit" else "none" if settings.smtp_tls == "none" else "starttls",
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password_file=settings.smtp_password_file,
        dev=settings.dev,
        ca_file=settings.smtp_ca_file,
    )


def mailer(settings: Settings) -> Mailer | None:
    config = smtp_config(settings)
    return None if config is None else Mailer(config)


def mail_route(app: web.Application) -> MailRoute | None:
    """E-mail goes to each site's `team_email` (and to visitors) when SMTP is configured."""
    settings = app[SETTINGS]
    sites = app.get(SITES)
    if settings.smtp_from is None or settings.smtp_host is None or sites is None:
        return None

    def team_email(site_id: str | None) -> str | None:
        site = sites.get(site_id)
        return None if site is None else site.team_email

    def site_sender(site_id: str | None) -> str | None:
        site = sites.get(site_id)
        return None if site is None else site.sender_email

    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return MailRoute(team_email, settings.smtp_from, f"{base}/console/c/", site_sender)
