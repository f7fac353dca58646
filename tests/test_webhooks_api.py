"""Webhooks through the running server: the admin API, and deliveries surviving a kill -9."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import bson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from tests.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.helpers import SecantusProcess, ServerProcess, call, login_full, visitor_client
from tests.waiting import eventually

ADMIN_EMAIL = "admin@example.eu"


@dataclass
class Receiver:
    """Verifies every request with the reference library and processes each webhook-id once."""

    secret: str = ""
    hold_first: bool = False
    requests: list[dict[str, str]] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(headers)
        payload = Webhook(self.secret).verify(body, headers)
        if self.hold_first and len(self.requests) == 1:
            self.first_arrived.set()
            await self.release.wait()  # the sender dies while we hold its request
            return web.Response(status=200)
        self.processed.setdefault(headers["webhook-id"], payload)
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield rec, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    rec.release.set()
    await runner.cleanup()


class Admin:
    def __init__(self, server: ServerProcess, cookie: str, csrf: str):
        self.server = server
        self.cookies = {"chat_session": cookie}
        self.headers = {"X-CSRF-Token": csrf}

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession(cookies=self.cookies) as session:
            async with session.request(method, self.server.url + path, json=body, headers=self.headers) as r:
                return r.status, await r.json()


async def admin_of(server: ServerProcess) -> Admin:
    server.create_user(ADMIN_EMAIL, AGENT_PASSWORD, role="admin")
    return Admin(server, *await login_full(server, ADMIN_EMAIL, AGENT_PASSWORD))


async def test_admin_api_creates_tests_logs_and_redelivers(
    server: ServerProcess, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    admin = await admin_of(server)
    status, body = await admin.request(
        "POST", "/api/webhooks", {"url": url, "region": "eu-central-1", "events": ["message.created"]}
    )
    assert status == 201, body
    endpoint_id, rec.secret = body["endpoint"]["id"], body["secret"]
    assert rec.secret.startswith("whsec_")
    status, listed = await admin.request("GET", "/api/webhooks")
    assert status == 200 and rec.secret not in json.dumps(listed) and listed["endpoints"][0]["id"] == endpoint_id
    stored = bson.encode({"all": list(server.db().webhook_endpoints.find({}))})
    assert rec.secret.removeprefix("whsec_").encode() not in stored

    status, body = await admin.request("POST", f"/api/webhooks/{endpoint_id}/test")
    assert status == 202
    delivery_id = body["delivery"]["id"]
    await eventually(lambda: delivery_id in rec.processed, what="test event")
    assert rec.processed[delivery_id]["type"] == "webhook.test"

    status, log = await admin.request("GET", f"/api/webhooks/{endpoint_id}/deliveries")
    assert status == 200
    (entry,) = log["deliveries"]
    assert entry["status"] == "delivered" and entry["response_code"] == 204 and entry["attempts"] == 1
    assert "payload" not in entry and "data" not in entry

    status, _ = await admin.request("POST", f"/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
    assert status == 202
    await eventually(lambda: len(rec.requests) == 2, what="redelivery")
    assert rec.requests[1]["webhook-id"] == delivery_id

    visitor, _ = await visitor_client(server)
    ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "hello there"})
    await visitor.disconnect()
    await eventually(lambda: any(p["type"] == "message.created" for p in rec.processed.values()), what="event")
    (event,) = [p for p in rec.processed.values() if p["type"] == "message.created"]
    assert event["data"]["message_id"] == ack["message"]["id"] and "text" not in event["data"]

    status, _ = await admin.request("DELETE", f"/api/webhooks/{endpoint_id}")
    assert status == 200
    assert server.db().outbox.count_documents({}) == 0


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"url": "ftp://x.example.eu/", "region": "eu-central-1", "events": ["message.created"]}, "url"),
        ({"url": "https://x.example.eu/", "region": "eu-central-1", "events": ["message.deleted"]}, "events"),
        ({"url": "https://x.example.eu/", "region": "eu-central-1", "events": []}, "events"),
        ({"url": "https://x.example.eu/", "region": "eu-central-1", "events": ["message.created"], "x": 1}, "Unknown"),
        ({"url": "https://x.example.eu/", "events": ["message.created"]}, "region"),
        (
            {"url": "https://x.example.eu/", "region": "eu", "events": ["message.created"], "fields": ["visitor.ip"]},
            "fields",
        ),
        (["not", "an", "object"], "object"),
    ],
)
async def test_bad_endpoint_input_is_refused_clearly(server: ServerProcess, body: Any, problem: str) -> None:
    admin = await admin_of(server)
    status, answer = await admin.request("POST", "/api/webhooks", body)
    assert status == 400 and answer["code"] == "invalid_input" and problem in answer["message"]


async def test_agents_cannot_manage_webhooks(server: ServerProcess, agent: tuple[str, str]) -> None:
    cookie, csrf = await login_full(server, AGENT_EMAIL, AGENT_PASSWORD)
    agent_api = Admin(server, cookie, csrf)
    assert (await agent_api.request("GET", "/api/webhooks"))[0] == 403
    body = {"url": "https://x.example.eu/", "region": "eu-central-1", "events": ["message.created"]}
    assert (await agent_api.request("POST", "/api/webhooks", body))[0] == 403
    no_csrf = Admin(server, cookie, "wrong")
    assert (await no_csrf.request("POST", "/api/webhooks", body))[0] in (401, 403)


async def test_a_delivery_survives_a_kill_and_is_processed_once(
    secantus: SecantusProcess, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    """kill -9 while the receiver holds the request: the next process sends it again, same webhook-id."""
    rec, url = receiver
    rec.hold_first = True
    server = ServerProcess(secantus.uri, tmp_path / "s", env_extra={"CHAT_OUTBOX_TIMEOUT_S": "1"}).start()
    try:
        admin = await admin_of(server)
        status, body = await admin.request(
            "POST", "/api/webhooks", {"url": url, "region": "eu-central-1", "events": ["message.created"]}
        )
        assert status == 201
        rec.secret = body["secret"]
        visitor, _ = await visitor_client(server)
        ack = await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "stored, then killed"})
        await visitor.disconnect()
        await asyncio.wait_for(rec.first_arrived.wait(), 20)
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait()
        rec.release.set()
        server.start()
        await eventually(lambda: len(rec.processed) == 1, timeout=30, what="the delivery after restart")
    finally:
        server.stop()
    ids = {h["webhook-id"] for h in rec.requests}
    assert len(ids) == 1 and len(rec.requests) >= 2  # sent again, under the same id
    (event,) = rec.processed.values()
    assert event["data"]["message_id"] == ack["message"]["id"]
    assert server.db().outbox.find_one({})["status"] == "delivered"


async def test_stored_while_no_worker_runs_is_sent_once_by_the_next(
    secantus: SecantusProcess, tmp_path: Path, receiver: tuple[Receiver, str]
) -> None:
    rec, url = receiver
    server = ServerProcess(secantus.uri, tmp_path / "s", env_extra={"CHAT_OUTBOX_WORKER": "false"}).start()
    try:
        admin = await admin_of(server)
        _, body = await admin.request(
            "POST", "/api/webhooks", {"url": url, "region": "eu-central-1", "events": ["conversation.created"]}
        )
        rec.secret = body["secret"]
        visitor, _ = await visitor_client(server)
        await call(visitor, "/visitor", "message", {"client_id": "v1", "text": "hello"})
        await visitor.disconnect()
        assert server.proc is not None
        server.proc.kill()
        server.proc.wait()
        assert rec.requests == []
        server.env_extra["CHAT_OUTBOX_WORKER"] = "true"
        server.start()
        await eventually(lambda: len(rec.processed) == 1, timeout=30, what="the stored delivery")
        await eventually(lambda: server.db().outbox.find_one({"status": "delivered"}), what="marked delivered")
    finally:
        server.stop()
    assert len(rec.requests) == 1
