"""The transactional outbox and webhook delivery, against real SecantusDB and a real aiohttp receiver.

Time is a controllable clock: the worker is driven with `run_once()` after moving it, no sleeps.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import jsonschema
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chat_service.conversations import Conversations, VisitorContext
from chat_service.crypto import HmacKeys, KeyRingSource
from chat_service.errors import InvalidInput
from chat_service.models import User
from chat_service.outbox import DeliveryWorker, EndpointInput, Outbox, Webhooks, WebhookSender
from chat_service.outbox.schedule import RETRY_DELAYS, next_delay, parse_retry_after
from chat_service.outbox.targets import check_region, check_url
from chat_service.storage import Database, open_database
from chat_service.validation import parse_visitor_message
from retention.policies import load_policies
from retention.subject import DataSubjectRequests
from tests.helpers import SecantusProcess, new_hmac_keys_file, new_key_ring_file

REPO = Path(__file__).resolve().parent.parent
START = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
AGENT = User(id="u-agent", email="agent@example.eu", role="agent", password_hash="x", created_at=START)
CANARY_TEXT = "canary-text-7f3a9"
CANARY_EMAIL = "canary.7f3a9@example.eu"
CANARY_NAME = "Canary Sevenfour"


def doc_schemas() -> dict[str, dict[str, Any]]:
    """The payload schemas as docs/protocol.md states them."""
    text = (REPO / "docs" / "protocol.md").read_text()
    section = text.split("## Webhooks (outgoing events)", 1)[1]
    found = re.findall(r"#### `([a-z_.]+)`\n(?:[^\n]*\n)?```json\n(.*?)```", section, re.S)
    return {name: json.loads(body) for name, body in found}


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Receiver:
    """A real HTTP receiver on loopback that verifies signatures and deduplicates by webhook-id."""

    secrets: list[str] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    processed: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad_signatures: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append((headers, body))
        status, extra = self.answers.pop(0) if self.answers else (200, {})
        if 200 <= status < 300:
            try:
                for secret in self.secrets:
                    Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                self.bad_signatures += 1
                return web.Response(status=400)
            self.processed.setdefault(headers["webhook-id"], json.loads(body))
        return web.Response(status=status, headers=extra)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [p for p in self.processed.values() if p["type"] == event_type]


@dataclass
class Env:
    db: Database
    keys: KeyRingSource
    clock: Clock
    outbox: Outbox
    webhooks: Webhooks
    conversations: Conversations
    worker: DeliveryWorker
    receiver: Receiver
    raw_db: Any

    def new_worker(self) -> DeliveryWorker:
        return DeliveryWorker(
            self.db,
            self.keys,
            self.outbox,
            self.webhooks,
            WebhookSender(dev=True, timeout_s=5),
            clock=self.clock,
            rand=lambda: 0.5,
        )

    async def endpoint(self, events: tuple[str, ...], fields: tuple[str, ...] = ()) -> str:
        endpoint, secret = await self.webhooks.create(
            EndpointInput(url=self.receiver.url, region="eu-central-1", events=events, fields=fields)
        )
        self.receiver.secrets = [secret]
        return endpoint.id

    async def start(self, text: str = "hello", *, email: str | None = None, name: str | None = None) -> str:
        first = parse_visitor_message(
            {"client_id": uuid.uuid4().hex, "text": text, "profile": {"email": email, "name": name}, "site_id": "demo"},
            max_len=4000,
        )
        started = await self.conversations.start(first, VisitorContext("203.0.113.9", "test-agent"))
        return started.conversation.id

    async def outbox_docs(self) -> list[dict[str, Any]]:
        return [doc async for doc in self.raw_db.outbox.find({})]


@pytest.fixture
async def env(secantus: SecantusProcess, tmp_path: Path) -> AsyncIterator[Env]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    keys = KeyRingSource(new_key_ring_file(tmp_path / "master.keys"), None)
    hmac_keys, _ = HmacKeys.load(new_hmac_keys_file(tmp_path / "hmac.keys"))
    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        clock = Clock()
        outbox = Outbox(db, clock=clock)
        webhooks = Webhooks(db, keys, outbox, allowed_regions=["EU_CENTRAL_1"], dev=True, clock=clock)
        conversations = Conversations(db, keys, resume_days=30, clock=clock, hmac_keys=hmac_keys, outbox=outbox)
        sender = WebhookSender(dev=True, timeout_s=5)
        worker = DeliveryWorker(db, keys, outbox, webhooks, sender, clock=clock, rand=lambda: 0.5)
        yield Env(db, keys, clock, outbox, webhooks, conversations, worker, receiver, db.db)
        await sender.close()
    await runner.cleanup()


async def test_events_are_delivered_signed_thin_and_match_the_documented_schemas(env: Env) -> None:
    await env.endpoint(
        ("conversation.created", "message.created", "conversation.assigned", "conversation.status_changed")
    )
    conversation_id = await env.start(CANARY_TEXT, email=CANARY_EMAIL, name=CANARY_NAME)
    await env.conversations.visitor_send(conversation_id, "c2", "second")
    await env.conversations.claim(conversation_id, AGENT.id, force=False)
    await env.conversations.agent_reply(AGENT, conversation_id, "a1", "an answer")
    await env.conversations.set_status(conversation_id, "closed")
    assert await env.worker.run_once() == 6
    schemas = doc_schemas()
    assert env.receiver.bad_signatures == 0
    assert len(env.receiver.processed) == 6
    for payload in env.receiver.processed.values():
        jsonschema.validate(payload, schemas[payload["type"]])
    sent = b"".join(body for _, body in env.receiver.requests)
    for canary in (CANARY_TEXT, CANARY_EMAIL, CANARY_NAME, "203.0.113.9"):
        assert canary.encode() not in sent  # nothing personal without an opt-in
    messages = env.receiver.of_type("message.created")
    assert sorted(m["data"]["sender"] for m in messages) == ["agent", "visitor", "visitor"]
    assert env.receiver.of_type("conversation.assigned")[0]["data"]["agent_id"] == AGENT.id
    assert env.receiver.of_type("conversation.status_changed")[0]["data"]["status"] == "closed"
    log = await env.webhooks.deliveries((await env.webhooks.all())[0].id)
    assert {d.status for d in log} == {"delivered"} and {d.last_status_code for d in log} == {200}


async def test_opted_in_fields_are_sent_and_canaries_never_rest_in_clear(env: Env) -> None:
    await env.endpoint(("conversation.created", "message.created"), fields=("message.text", "visitor.email"))
    await env.start(CANARY_TEXT, email=CANARY_EMAIL, name=CANARY_NAME)
    stored = bson.encode({"docs": await env.outbox_docs()})
    for canary in (CANARY_TEXT, CANARY_EMAIL, CANARY_NAME):
        assert canary.encode() not in stored
    assert await env.worker.run_once() == 2
    created = env.receiver.of_type("conversation.created")[0]["data"]
    assert created["visitor_email"] == CANARY_EMAIL
    assert "visitor_name" not in created  # not opted in
    assert env.receiver.of_type("message.created")[0]["data"]["text"] == CANARY_TEXT
    stored = bson.encode({"docs": await env.outbox_docs()})
    for canary in (CANARY_TEXT, CANARY_EMAIL, CANARY_NAME):
        assert canary.encode() not in stored


async def test_a_payload_moved_to_another_record_does_not_decrypt(env: Env) -> None:
    await env.endpoint(("message.created",), fields=("message.text",))
    conversation_id = await env.start("one")
    await env.conversations.visitor_send(conversation_id, "c2", "two")
    first, second = await env.outbox_docs()
    await env.raw_db.outbox.update_one({"_id": first["_id"]}, {"$set": {"payload": second["payload"]}})
    await env.worker.run_once()
    assert list(env.receiver.processed) == [second["_id"]]
    moved = await env.db.outbox.get(first["_id"])
    assert moved is not None and moved.status == "failed" and "unreadable" in (moved.last_error or "")


async def test_no_endpoint_means_no_outbox_writes(env: Env) -> None:
    await env.start("hello")
    assert await env.outbox_docs() == []


async def test_a_resent_message_is_reported_once(env: Env) -> None:
    await env.endpoint(("message.created",))
    conversation_id = await env.start("hello")
    for _ in range(3):
        await env.conversations.visitor_send(conversation_id, "same-client-id", "again")
    assert len(await env.outbox_docs()) == 2


async def test_receiver_down_retries_follow_the_schedule_then_fail(env: Env) -> None:
    await env.endpoint(("conversation.created",))
    await env.start()
    env.receiver.answers = [(503, {})] * 20
    attempts_at = []
    for delay in (timedelta(), *RETRY_DELAYS):
        env.clock.at += delay - timedelta(milliseconds=1) if delay else timedelta()
        if delay:
            assert await env.worker.run_once() == 0  # not due a moment early
            env.clock.at += timedelta(milliseconds=1)
        assert await env.worker.run_once() == 1
        attempts_at.append(env.clock.at)
    assert len(env.receiver.requests) == 10
    assert len({h["webhook-id"] for h, _ in env.receiver.requests}) == 1  # one stable id
    (doc,) = await env.outbox_docs()
    assert doc["status"] == "failed" and doc["attempts"] == 10 and doc["last_status_code"] == 503
    # Kept for the log until the last attempt + 7 days, then the TTL index removes it.
    assert doc["expires_at"] == attempts_at[-1] + timedelta(days=7)
    indexes = {i["name"]: i async for i in await env.raw_db.outbox.list_indexes()}
    assert indexes["retention"]["key"] == {"expires_at": 1} and indexes["retention"]["expireAfterSeconds"] == 0
    env.clock.at += timedelta(days=30)
    assert await env.worker.run_once() == 0


async def test_retry_after_is_honoured_and_410_disables_the_endpoint(env: Env) -> None:
    endpoint_id = await env.endpoint(("conversation.created", "message.created"))
    await env.start()
    env.receiver.answers = [(429, {"Retry-After": "120"}), (429, {"Retry-After": "120"})]
    assert await env.worker.run_once() == 2
    env.clock.at += timedelta(seconds=119)
    assert await env.worker.run_once() == 0  # the schedule says 5 s, the receiver said 120 s
    env.clock.at += timedelta(seconds=1)
    env.receiver.answers = [(410, {}), (410, {})]
    assert await env.worker.run_once() == 2
    endpoint = await env.webhooks.get(endpoint_id)
    assert not endpoint.enabled and "410" in (endpoint.disabled_reason or "")
    assert not env.outbox.listens("message.created")
    await env.conversations.visitor_send((await env.outbox_docs())[0]["conversation_id"], "c9", "later")
    env.clock.at += timedelta(days=1)
    assert await env.worker.run_once() == 0
    assert len(env.receiver.requests) == 4


async def test_two_workers_never_send_one_delivery_twice(env: Env) -> None:
    await env.endpoint(("message.created",))
    conversation_id = await env.start()
    for i in range(40):
        await env.conversations.visitor_send(conversation_id, f"c{i}", "x")
    other = env.new_worker()
    sent = await asyncio.gather(env.worker.run_once(), other.run_once())
    assert sum(sent) == 41
    ids = [h["webhook-id"] for h, _ in env.receiver.requests]
    assert len(ids) == len(set(ids)) == 41


async def test_a_lost_lease_is_taken_over_with_the_same_id(env: Env) -> None:
    """A worker that claimed and died: after its lease another sends, under the same webhook-id."""
    await env.endpoint(("conversation.created",))
    await env.start()
    (doc,) = await env.outbox_docs()
    claimed = await env.db.outbox.claim([doc["_id"]], env.clock.at, "dead-worker", env.clock.at + timedelta(seconds=40))
    assert len(claimed) == 1
    assert await env.worker.run_once() == 0
    env.clock.at += timedelta(seconds=41)
    assert await env.worker.run_once() == 1
    assert list(env.receiver.processed) == [doc["_id"]]
    # The dead worker's late write-back cannot undo the outcome.
    assert (await env.db.outbox.get(doc["_id"])).status == "delivered"  # type: ignore[union-attr]


async def test_rotation_signs_with_both_secrets_during_the_overlap(env: Env) -> None:
    endpoint_id = await env.endpoint(("webhook.test",))
    old = env.receiver.secrets[0]
    _, new = await env.webhooks.rotate_secret(endpoint_id)
    env.receiver.secrets = [old, new]  # each verifies on its own
    await env.webhooks.send_test(endpoint_id)
    assert await env.worker.run_once() == 1
    headers, _ = env.receiver.requests[-1]
    assert len(headers["webhook-signature"].split(" ")) == 2
    env.clock.at += timedelta(hours=25)
    env.receiver.secrets = [new]
    await env.webhooks.send_test(endpoint_id)
    assert await env.worker.run_once() == 1
    assert len(env.receiver.requests[-1][0]["webhook-signature"].split(" ")) == 1
    assert env.receiver.bad_signatures == 0
    stored = bson.encode({"e": await env.raw_db.webhook_endpoints.find_one({})})
    assert old.encode() not in stored and new.encode() not in stored
    assert old.removeprefix("whsec_").encode() not in stored


async def test_redeliver_sends_again_with_the_same_id(env: Env) -> None:
    endpoint_id = await env.endpoint(("webhook.test",))
    delivery = await env.webhooks.send_test(endpoint_id)
    await env.worker.run_once()
    await env.webhooks.redeliver(endpoint_id, delivery.id)
    await env.worker.run_once()
    assert [h["webhook-id"] for h, _ in env.receiver.requests] == [delivery.id, delivery.id]


async def test_erasure_drops_pending_deliveries_and_reports_privacy_erased(env: Env, tmp_path: Path) -> None:
    await env.endpoint(("message.created", "privacy.erased"), fields=("message.text",))
    conversation_id = await env.start(CANARY_TEXT)
    hmac_keys, _ = HmacKeys.load(new_hmac_keys_file(tmp_path / "hmac2.keys"))
    requests = DataSubjectRequests(env.db, env.keys, hmac_keys, load_policies(None), clock=env.clock, outbox=env.outbox)
    await requests.erase(await requests.load([conversation_id]), actor_id="u-admin")
    assert await env.worker.run_once() == 1
    (payload,) = env.receiver.processed.values()
    assert payload["type"] == "privacy.erased" and payload["data"]["conversation_ids"] == [conversation_id]
    assert CANARY_TEXT.encode() not in b"".join(body for _, body in env.receiver.requests)


@pytest.mark.parametrize(
    ("url", "dev", "problem"),
    [
        ("http://hooks.example.eu/x", False, "https"),
        ("https://10.0.0.5/x", False, "private"),
        ("https://127.0.0.1:9/x", False, "private"),
        ("https://[::1]/x", False, "private"),
        ("https://169.254.169.254/latest", False, "private"),
        ("https://[::ffff:192.168.1.1]/x", False, "private"),
        ("https://user:pw@hooks.example.eu/x", False, "password"),
        ("ftp://hooks.example.eu/x", True, "http"),
    ],
)
def test_unsafe_urls_are_refused_when_saved(url: str, dev: bool, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        check_url(url, dev=dev)


def test_regions_outside_the_allow_list_are_refused() -> None:
    assert check_region("eu-central-1", ["EU_CENTRAL_1"], dev=False) == "eu-central-1"
    with pytest.raises(InvalidInput, match="not in the allowed"):
        check_region("us-east-1", ["EU_CENTRAL_1"], dev=False)


async def test_a_name_resolving_to_loopback_is_refused_at_send_time(env: Env) -> None:
    """DNS rebinding: the name passes when saved; its address is checked when connecting (dev off)."""
    strict = Webhooks(env.db, env.keys, env.outbox, allowed_regions=["EU_CENTRAL_1"], dev=False, clock=env.clock)
    port = env.receiver.url.split(":")[2].split("/")[0]
    endpoint, _ = await strict.create(
        EndpointInput(url=f"https://localhost:{port}/hook", region="eu-central-1", events=("webhook.test",))
    )
    await strict.send_test(endpoint.id)
    sender = WebhookSender(dev=False, timeout_s=5)
    worker = DeliveryWorker(env.db, env.keys, env.outbox, strict, sender, clock=env.clock, rand=lambda: 0.5)
    try:
        assert await worker.run_once() == 1
    finally:
        await sender.close()
    assert env.receiver.requests == []
    (delivery,) = await strict.deliveries(endpoint.id)
    assert delivery.status == "pending" and "refused target" in (delivery.last_error or "")


def test_schedule_jitter_and_retry_after_parsing() -> None:
    assert next_delay(1, rand=lambda: 0.0) == timedelta(seconds=4.5)
    assert next_delay(1, rand=lambda: 1.0) == timedelta(seconds=5.5)
    assert next_delay(9, rand=lambda: 0.5) == timedelta(hours=24)
    assert next_delay(10) is None
    assert next_delay(1, timedelta(days=9), rand=lambda: 0.5) == timedelta(hours=24)  # capped
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_retry_after("30", now) == timedelta(seconds=30)
    assert parse_retry_after("Fri, 01 Jan 2027 00:01:00 GMT", now) == timedelta(minutes=1)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
