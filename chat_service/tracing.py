"""Optional OpenTelemetry tracing (off by default; `CHAT_TRACING_OTLP_ENDPOINT` turns it on).

One server span per HTTP request, made with the official SDK and exported in batches over
OTLP/HTTP. A span carries the method, the route *pattern* (`/api/conversations/{conversation_id}`,
never the path with its ids, nor the query string) and the status code: no address, no user
agent, no header, no body. The contrib aiohttp-server instrumentation records the full URL and
the client's address, which is why it is not used.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from chat_service import __version__
from chat_service.api.middleware import Handler
from chat_service.logging import get_logger, own_config
from chat_service.services import SETTINGS

log = get_logger(__name__)
TRACER = web.AppKey("tracer", Tracer)
EXPORT_TIMEOUT_S = 5.0


def route_of(request: web.Request) -> str:
    """The matched route's pattern; "unmatched" for a 404 (whatever path was asked for)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    tracer = request.app.get(TRACER)
    if tracer is None:
        return await handler(request)
    route = route_of(request)
    attributes = {"http.request.method": request.method, "http.route": route}
    with tracer.start_as_current_span(f"{request.method} {route}", kind=SpanKind.SERVER, attributes=attributes) as span:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            raise
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(StatusCode.ERROR)
        return response


async def tracing_context(app: web.Application) -> AsyncIterator[None]:
    """The tracer provider and its OTLP/HTTP exporter; spans still queued are sent on shutdown."""
    endpoint = app[SETTINGS].tracing_otlp_endpoint
    if endpoint is None:
        yield
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": "chat-service", "service.version": __version__})
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, timeout=EXPORT_TIMEOUT_S)))
    app[TRACER] = provider.get_tracer("chat_service", __version__)
    log.info("tracing_enabled", endpoint=own_config(endpoint))
    try:
        yield
    finally:
        # The exporter is synchronous (requests): flush it off the event loop.
        await asyncio.to_thread(provider.shutdown)
