"""OpenTelemetry tracing (off by default): with CHAT_TRACING_OTLP_ENDPOINT set, a span per HTTP
request reaches a real OTLP/HTTP collector (an aiohttp server decoding the protobuf), and no span
carries personal data: no path ids, no query, no address, no user agent, no body."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from chat_service.settings import load_settings
from tests.helpers import SecantusProcess, ServerProcess
from tests.waiting import eventually

CANARY_EMAIL = "trace.canary@example.eu"
CANARY_UA = "TraceCanaryBrowser/9.9"
ENDPOINT_ID = "we" + "0123456789abcdef01234567"


@dataclass
class Collector:
    bodies: list[bytes] = field(default_factory=list)
    spans: list[Any] = field(default_factory=list)
    url: str = ""

    async def traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        body = await request.read()
        self.bodies.append(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        return web.Response(status=200, content_type="application/x-protobuf", body=b"")

    def span(self, name: str) -> Any:
        return next((s for s in self.spans if s.name == name), None)


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    found = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", found.traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/traces"
    yield found
    await runner.cleanup()


@pytest.fixture
def traced_server(secantus: SecantusProcess, tmp_path: Path, collector: Collector) -> Iterator[ServerProcess]:
    server = ServerProcess(
        secantus.uri,
        tmp_path / "server",
        env_extra={"CHAT_TRACING_OTLP_ENDPOINT": collector.url, "OTEL_BSP_SCHEDULE_DELAY": "100"},
    ).start()
    yield server
    server.stop()


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for kv in span.attributes:
        value = kv.value
        values[kv.key] = value.string_value or value.int_value
    return values


async def test_http_spans_reach_the_collector_without_personal_data(
    traced_server: ServerProcess, collector: Collector
) -> None:
    headers = {"User-Agent": CANARY_UA}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(traced_server.url + "/healthz") as response:
            assert response.status == 200
        async with session.post(
            traced_server.url + "/api/session", json={"email": CANARY_EMAIL, "password": "wrong password!"}
        ) as response:
            assert response.status == 401
        async with session.get(traced_server.url + f"/api/widget/availability?site=demo&lang=nl&x={CANARY_EMAIL}"):
            pass
        async with session.get(traced_server.url + f"/api/webhooks/{ENDPOINT_ID}/deliveries") as response:
            assert response.status == 401

    await eventually(
        lambda: (
            all(collector.span(n) for n in ("GET /healthz", "POST /api/session", "GET /api/widget/availability"))
            or None
        ),
        what="the spans of three requests at the collector",
    )
    login = collector.span("POST /api/session")
    assert attributes(login) == {
        "http.request.method": "POST",
        "http.route": "/api/session",
        "http.response.status_code": 401,
    }
    assert login.kind == 2  # SPAN_KIND_SERVER
    # Ids in a path are reported by the route pattern, never as asked.
    await eventually(
        lambda: collector.span("GET /api/webhooks/{endpoint_id}/deliveries"), what="the span of a path with an id"
    )
    raw = b"".join(collector.bodies)
    for personal in (CANARY_EMAIL.encode(), CANARY_UA.encode(), b"127.0.0.1", ENDPOINT_ID.encode(), b"lang=nl"):
        assert personal not in raw


def test_tracing_is_off_by_default() -> None:
    assert load_settings({"CHAT_DEV": "true"}).tracing_otlp_endpoint is None
