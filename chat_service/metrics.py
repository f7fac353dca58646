"""Prometheus metrics: one registry per app, `/metrics` never public by default.

`/metrics` is served either on a separate listener (`CHAT_METRICS_LISTEN`, e.g. a port only the
cluster's Prometheus reaches) or on the main port to a bearer token read from
`CHAT_METRICS_TOKEN_FILE`; with neither set it answers 404. No label carries personal data or an
unbounded id: labels are namespaces, sender kinds, event names from a fixed set, policy names from
the operator's policy file, and outcome codes.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from chat_service.errors import Overloaded, RateLimited, TooManyAttempts
from chat_service.logging import get_logger
from chat_service.services import SETTINGS

log = get_logger(__name__)

# Socket acks and database writes: sub-millisecond to a few seconds (a stalled majority write).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
SENDERS = ("visitor", "agent", "bot", "system")


@dataclass
class Metrics:
    """Every metric the service exports, registered on its own `CollectorRegistry`."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.connections = Gauge(
            "chat_connections", "Open Socket.IO connections on this node.", ["namespace"], registry=r
        )
        self.messages_stored = Counter(
            "chat_messages_stored", "Messages stored and acknowledged, by sender kind.", ["sender"], registry=r
        )
        self.ack_latency = Histogram(
            "chat_ack_latency_seconds",
            "Time from a socket event's arrival to its acknowledgement.",
            ["namespace", "event"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.db_write_latency = Histogram(
            "chat_db_write_latency_seconds",
            "Duration of one journaled majority write (one batch) to the database.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.write_batch_size = Histogram(
            "chat_write_batch_size", "Messages per group-commit write.", buckets=BATCH_BUCKETS, registry=r
        )
        self.write_queue_age = Histogram(
            "chat_write_queue_age_seconds",
            "Age of the oldest queued write when its batch is sent.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limit_refusals = Counter(
            "chat_rate_limit_refusals", "Requests refused by a rate limit, by limit name.", ["limit"], registry=r
        )
        self.retention_items = Counter(
            "chat_retention_items",
            "Retention job items by policy, action and outcome.",
            ["policy", "action", "outcome"],
            registry=r,
        )
        self.outbox_deliveries = Counter(
            "chat_outbox_deliveries",
            "Outbox deliveries (e-mail, webhooks) by kind and outcome.",
            ["kind", "outcome"],
            registry=r,
        )
        self.login_failures = Counter(
            "chat_login_failures", "Failed staff logins, by error code.", ["reason"], registry=r
        )
        self.draining = Gauge("chat_draining", "1 while this node drains after SIGTERM.", registry=r)
        for sender in SENDERS:
            self.messages_stored.labels(sender=sender)

    def render(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)
_TOKEN = web.AppKey("metrics_token", str)


def refusal_limit(exc: BaseException) -> str | None:
    """The limit that refused a request (a fixed set of names), or None if it was no limit."""
    if isinstance(exc, RateLimited):
        return exc.limit
    if isinstance(exc, Overloaded):
        return "write_queue"
    if isinstance(exc, TooManyAttempts):
        return "sign_in"
    return None


def count_refusal(app: web.Application, exc: BaseException) -> None:
    """Count a rate-limit or backpressure refusal in `chat_rate_limit_refusals_total`."""
    limit = refusal_limit(exc)
    metrics = app.get(METRICS)
    if limit is not None and metrics is not None:
        metrics.rate_limit_refusals.labels(limit=limit).inc()


def metrics_response(metrics: Metrics) -> web.Response:
    response = web.Response(body=metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response


async def metrics_route(request: web.Request) -> web.Response:
    """`/metrics` on the main port: 404 unless a token is configured, 401 without the right one."""
    token = request.app.get(_TOKEN)
    if token is None:
        raise web.HTTPNotFound()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        log.info("metrics_unauthorized")
        return web.json_response(
            {"error": {"code": "unauthenticated", "message": "A bearer token is required."}},
            status=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return metrics_response(request.app[METRICS])


def add_metrics(app: web.Application) -> Metrics:
    """Create the app's metrics (usable by handlers before start-up) and its `/metrics` route."""
    metrics = Metrics()
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics_route)
    app.cleanup_ctx.append(metrics_context)
    return metrics


async def metrics_context(app: web.Application) -> AsyncIterator[None]:
    """Read the token file and start the separate metrics listener, if configured."""
    settings = app[SETTINGS]
    if settings.metrics_token_file is not None:
        app[_TOKEN] = settings.metrics_token_file.read_text(encoding="utf-8").strip()
    runner: web.AppRunner | None = None
    if settings.metrics_listen is not None:
        host, port = settings.metrics_listen
        side = web.Application()
        side.router.add_get("/metrics", lambda _request: _serve(app))
        runner = web.AppRunner(side, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("metrics_listening", host=host, port=port)
    try:
        yield
    finally:
        if runner is not None:
            await runner.cleanup()


async def _serve(app: web.Application) -> web.Response:
    return metrics_response(app[METRICS])
