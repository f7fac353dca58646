"""Bot turns against real SecantusDB and real aiohttp bot servers: every state transition, silence
after hand-over, hand-over on request, misses, timeout and 5xx, crash safety, and what an external
bot receives (canaries never reach it)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from chat_service.bots import BotClient, BotRegistry, BotRunner
from chat_service.bots.admin import BotAdmin
from chat_service.bots.external import bot_sender
from chat_service.bots.texts import DISCLOSURE, HANDED_OVER
from chat_service.conversations import Conversations, MessageView, VisitorContext
from chat_service.crypto import HmacKeys, KeyRingSource
from chat_service.errors import Conflict
from chat_service.models import Conversation, User
from chat_service.outbox import DeliveryWorker, EndpointInput, Outbox, Webhooks, WebhookSender
from chat_service.schemas import validate
from chat_service.schemas.bots import BotConfigBody
from chat_service.storage import Database, open_database
from chat_service.validation import parse_visitor_message
from tests.bot_fixtures import HOURS, builtin_config
from tests.helpers import SecantusProcess, new_hmac_keys_file, new_key_ring_file
from tests.test_write_pipeline import message

AGENT = User(id="u-agent", email="agent@example.eu", role="agent", password_hash="x", created_at=datetime.now(UTC))
CANARY_NAME = "Canary Sevenfour"
CANARY_EMAIL = "canary.7f3a9@example.eu"
CANARY_PAGE = "https://shop.example.eu/cart?canary=7f3a9"
CANARY_UA = "CanaryBrowser/7f3a9"
CANARY_IP = "203.0.113.79"
CANARY_PHONE = "+31 6 12345678"


class Clock:
    """Moves on a millisecond per reading, as time does between two stored messages."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday, 11:00 in Amsterdam

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at


@dataclass
class Recorder:
    """The runner's events, as the sockets layer would receive them."""

    messages: list[MessageView] = field(default_factory=list)
    handed: list[Conversation] = field(default_factory=list)

    async def message(self, view: MessageView) -> None:
        self.messages.append(view)

    async def handed_over(self, conv: Conversation) -> None:
        self.handed.append(conv)


@dataclass
class RasaBot:
    """A Rasa-REST-compatible bot over real HTTP: answers by rule, records every request's bytes."""

    url: str = ""
    received: list[bytes] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered (and popped) before the rules
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)
    raw_answer: bytes | None = None  # sent as is (a 200 JSON answer) instead of the rules' answer

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.received.append(raw)
        if self.hang:
            await self.release.wait()
        if self.statuses:
            return web.Response(status=self.statuses.pop(0))
        if self.raw_answer is not None:
            return web.Response(body=self.raw_answer, content_type="application/json")
        body = json.loads(raw)
        sender, text = body["sender"], body["message"]
        if text == "handover please":
            return web.json_response([{"recipient_id": sender, "text": "One moment."}, {"custom": {"handover": True}}])
        return web.json_response(
            [
                {"recipient_id": sender, "text": f"echo: {text}"},
                {
                    "recipient_id": sender,
                    "text": "Anything else?",
                    "buttons": [{"title": "Opening hours", "payload": "/hours"}],
                    "image": "https://shop.example.eu/bot.png",
                },
            ]
        )


@dataclass
class Env:
    db: Database
    raw: Any
    keys: KeyRingSource
    hmac_keys: HmacKeys
    clock: Clock
    outbox: Outbox
    conversations: Conversations
    registry: BotRegistry
    events: Recorder
    runner: BotRunner
    rasa: RasaBot
    webhooks: Webhooks
    admin: BotAdmin

    def use(self, config: dict[str, Any]) -> None:
        self.registry.from_file = {"shop": validate(BotConfigBody, config)}
        self.registry.__post_init__()

    async def start(self, text: str, *, language: str = "en", **profile: str) -> tuple[str, MessageView]:
        first = parse_visitor_message(
            {
                "client_id": uuid.uuid4().hex,
                "text": text,
                "site_id": "shop",
                "profile": {"language": language, **profile},
            },
            max_len=4000,
        )
        started = await self.conversations.start(
            first, VisitorContext(CANARY_IP, CANARY_UA), with_bot=self.runner.starts_with_bot("shop")
        )
        return started.conversation.id, started.message

    async def say(self, conversation_id: str, text: str) -> MessageView:
        view, _, _ = await self.conversations.visitor_send(conversation_id, uuid.uuid4().hex[:16], text)
        return view

    async def bot_texts(self, conversation_id: str) -> list[str]:
        return [m.text for m in await self.conversations.history(conversation_id) if m.sender == "bot"]

    async def status(self, conversation_id: str) -> str:
        return (await self.conversations.get(conversation_id)).status

    async def outbox_types(self) -> list[str]:
        return sorted([doc["event_type"] async for doc in self.raw.outbox.find({})])


@pytest.fixture
async def env(secantus: SecantusProcess, tmp_path: Path) -> AsyncIterator[Env]:
    rasa = RasaBot()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", rasa.handle)
    runner_ = web.AppRunner(app)
    await runner_.setup()
    site = web.TCPSite(runner_, "127.0.0.1", 0)
    await site.start()
    rasa.url = f"http://127.0.0.1:{runner_.addresses[0][1]}/webhooks/rest/webhook"
    keys = KeyRingSource(new_key_ring_file(tmp_path / "master.keys"), None)
    hmac_keys, _ = HmacKeys.load(new_hmac_keys_file(tmp_path / "hmac.keys"))
    client = BotClient(dev=True)
    async with open_database(secantus.uri, "t_" + uuid.uuid4().hex[:12], 5000) as db:
        await db.ensure_indexes()
        clock = Clock()
        outbox = Outbox(db, clock=clock)
        conversations = Conversations(db, keys, resume_days=30, clock=clock, hmac_keys=hmac_keys, outbox=outbox)
        registry = BotRegistry(db, {"shop": validate(BotConfigBody, builtin_config())})
        events = Recorder()
        runner = BotRunner(
            conversations, registry, events, db=db, hmac_keys=hmac_keys, client=client, timeout_s=1, clock=clock
        )
        webhooks = Webhooks(db, keys, outbox, allowed_regions=["EU_CENTRAL_1"], dev=True, clock=clock)
        admin = BotAdmin(db, registry, runner, conversations, webhooks, lambda: ["shop"], True, ("EU_CENTRAL_1",))
        yield Env(
            db, db.db, keys, hmac_keys, clock, outbox, conversations, registry, events, runner, rasa, webhooks, admin
        )
        rasa.release.set()
        await runner.stop()
    await client.close()
    await runner_.cleanup()


async def listen_to_everything(env: Env) -> None:
    await env.webhooks.create(
        EndpointInput(
            url="http://127.0.0.1:9/hook",
            region="eu-central-1",
            events=("conversation.handed_over", "conversation.status_changed", "message.created"),
        )
    )


# --- states ------------------------------------------------------------------------------------


async def test_a_site_without_a_bot_starts_waiting_and_with_one_starts_with_the_bot(env: Env) -> None:
    conversation_id, _ = await env.start("hello")
    assert await env.status(conversation_id) == "bot"
    env.registry.from_file = {}
    env.registry.__post_init__()
    plain_id, message = await env.start("hello")
    conv = await env.conversations.get(plain_id)
    assert conv.status == "open" and conv.assigned_agent_id is None  # waiting, as before bots
    await env.runner.turn(plain_id, message)
    assert await env.bot_texts(plain_id) == []


async def test_every_transition_bot_waiting_open_closed_and_never_back_to_bot(env: Env) -> None:
    await listen_to_everything(env)
    conversation_id, first = await env.start("opening hours")
    await env.runner.turn(conversation_id, first)
    assert await env.status(conversation_id) == "bot"
    # bot -> waiting (the visitor asks for a person)
    assert await env.runner.hand_over(conversation_id, "request", "en") is not None
    waiting = await env.conversations.get(conversation_id)
    assert (waiting.status, waiting.assigned_agent_id, waiting.handover_reason) == ("open", None, "request")
    # waiting -> open (claimed)
    assigned, won = await env.conversations.claim(conversation_id, AGENT.id, force=False)
    assert won and assigned.status == "open" and assigned.assigned_agent_id == AGENT.id
    # open -> closed -> open again when the visitor writes: people, not the bot
    await env.conversations.set_status(conversation_id, "closed")
    assert await env.status(conversation_id) == "closed"
    again = await env.say(conversation_id, "opening hours")
    assert await env.status(conversation_id) == "open"
    await env.runner.turn(conversation_id, again)
    assert len(await env.bot_texts(conversation_id)) == 2  # the answer and the hand-over notice only
    types = await env.outbox_types()
    assert types.count("conversation.handed_over") == 1
    # The hand-over, the close and the visitor's reopen.
    assert types.count("conversation.status_changed") == 3


async def test_closing_a_bot_conversation_silences_the_bot_and_a_reopen_goes_to_people(env: Env) -> None:
    conversation_id, first = await env.start("opening hours")
    await env.runner.turn(conversation_id, first)
    closed = await env.conversations.set_status(conversation_id, "closed")  # bot -> closed
    assert closed.status == "closed"
    again = await env.say(conversation_id, "What are your opening hours?")  # closed -> waiting
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.assigned_agent_id is None
    await env.runner.turn(conversation_id, again)
    assert len(await env.bot_texts(conversation_id)) == 1
    assert await env.runner.hand_over(conversation_id, "request", "en") is None  # not with the bot


async def test_an_agent_takes_over_at_any_time_and_the_bot_falls_silent(env: Env) -> None:
    await listen_to_everything(env)
    conversation_id, first = await env.start("opening hours")
    await env.runner.turn(conversation_id, first)
    conv, won = await env.conversations.claim(conversation_id, AGENT.id, force=False)
    assert won and conv.status == "open" and conv.assigned_agent_id == AGENT.id and conv.handover_reason == "agent"
    before = await env.bot_texts(conversation_id)
    later = await env.say(conversation_id, "What are your opening hours?")
    await env.runner.turn(conversation_id, later)
    assert await env.bot_texts(conversation_id) == before  # no notice, no answer
    assert "conversation.handed_over" in await env.outbox_types()


async def test_an_agent_reply_to_a_bot_conversation_takes_it_over(env: Env) -> None:
    conversation_id, _ = await env.start("hello")
    taken: list[Conversation] = []

    async def note(conv: Conversation) -> None:
        taken.append(conv)

    await env.conversations.agent_reply(AGENT, conversation_id, "r1", "Hi, Anna here.", taken_over=note)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.assigned_agent_id == AGENT.id and conv.handover_reason == "agent"
    assert taken and taken[0].assigned_agent_id == AGENT.id


# --- the built-in bot ----------------------------------------------------------------------------


async def test_the_first_bot_message_says_it_is_automated_and_carries_name_and_version(env: Env) -> None:
    conversation_id, first = await env.start("Wat zijn jullie openingstijden?", language="nl")
    await env.runner.turn(conversation_id, first)
    second = await env.say(conversation_id, "wat kost verzending")
    await env.runner.turn(conversation_id, second)
    bots = [m for m in await env.conversations.history(conversation_id) if m.sender == "bot"]
    assert bots[0].text.startswith(DISCLOSURE["nl"]) and "Maandag" in bots[0].text
    assert DISCLOSURE["nl"] not in bots[1].text and "gratis" in bots[1].text
    assert all(m.to_wire()["bot"] == {"name": "Shopbot", "version": "3"} for m in bots)
    assert [m.id for m in env.events.messages] == [m.id for m in bots]  # announced to visitor and agents


async def test_buttons_when_unsure_are_stored_encrypted_and_come_back(env: Env) -> None:
    conversation_id, first = await env.start("order")
    await env.runner.turn(conversation_id, first)
    bot = next(m for m in await env.conversations.history(conversation_id) if m.sender == "bot")
    buttons = bot.to_wire()["buttons"]
    assert buttons and all(set(b) == {"title", "payload"} for b in buttons)
    stored = bson.encode({"docs": [doc async for doc in env.raw.messages.find({"sender": "bot"})]})
    assert buttons[0]["title"].encode() not in stored  # encrypted like the text


async def test_hand_over_after_n_unanswered_turns(env: Env) -> None:
    conversation_id, first = await env.start("Do you sell gift vouchers?")
    await env.runner.turn(conversation_id, first)
    assert await env.status(conversation_id) == "bot"
    second = await env.say(conversation_id, "xyzzy plugh")
    await env.runner.turn(conversation_id, second)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "misses"
    texts = await env.bot_texts(conversation_id)
    assert texts[-1] == HANDED_OVER["en"]
    assert [c.id for c in env.events.handed] == [conversation_id]


async def test_an_answer_resets_the_unanswered_count(env: Env) -> None:
    conversation_id, first = await env.start("xyzzy")
    await env.runner.turn(conversation_id, first)
    await env.runner.turn(conversation_id, await env.say(conversation_id, "opening hours"))
    await env.runner.turn(conversation_id, await env.say(conversation_id, "plugh"))
    assert await env.status(conversation_id) == "bot"


async def test_hand_over_on_request_and_the_bot_is_silent_ever_after(env: Env) -> None:
    conversation_id, first = await env.start("opening hours")
    await env.runner.turn(conversation_id, first)
    await env.runner.turn(conversation_id, await env.say(conversation_id, "Talk to a person please"))
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "request"
    count = len(await env.bot_texts(conversation_id))
    for text in ("opening hours", "wat kost verzending", "person", "xyzzy"):
        await env.runner.turn(conversation_id, await env.say(conversation_id, text))
    assert len(await env.bot_texts(conversation_id)) == count
    assert await env.runner.hand_over(conversation_id, "request", "en") is None  # once only


async def test_outside_office_hours_the_hand_over_says_when_people_are_back(env: Env) -> None:
    env.use(builtin_config(hours=HOURS, max_misses=1))
    env.clock.at = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # Saturday
    conversation_id, first = await env.start("xyzzy")
    await env.runner.turn(conversation_id, first)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "offline"
    assert (await env.bot_texts(conversation_id))[-1].endswith(HOURS["offline_reply"]["en"])


# --- crash safety -------------------------------------------------------------------------------


async def test_a_turn_run_twice_answers_once(env: Env) -> None:
    conversation_id, first = await env.start("opening hours")
    await env.runner.turn(conversation_id, first)
    await env.runner.turn(conversation_id, first)  # e.g. scheduled again after a restart
    assert len(await env.bot_texts(conversation_id)) == 1


async def test_a_lost_turn_is_handed_over_by_the_sweep_not_left_with_the_bot(env: Env) -> None:
    conversation_id, _ = await env.start("opening hours")  # the process "died" before the turn
    answered_id, answered = await env.start("opening hours")
    await env.runner.turn(answered_id, answered)
    assert await env.runner.sweep() == 0  # too early: the bot may still answer
    env.clock.at += timedelta(seconds=30)
    assert await env.runner.sweep() == 1
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "timeout"
    assert await env.status(answered_id) == "bot"  # answered: the visitor is not waiting on it
    assert await env.runner.sweep() == 0
    texts = await env.bot_texts(conversation_id)
    assert len(texts) == 1 and texts[0].startswith(DISCLOSURE["en"])


async def test_the_sweep_sees_an_answer_another_node_has_not_folded_in_yet(env: Env) -> None:
    """The conversation still names the visitor's message as its last (the node that stored the
    bot's answer folds its bookkeeping in later): the sweep reads `messages`, not that summary."""
    conversation_id, _ = await env.start("opening hours")
    await env.conversations.fold_bookkeeping()
    answer = message(conversation_id, "answered-elsewhere", sender="bot", at=env.clock())
    await env.db.batches.insert_messages([answer])  # stored on "another node", not folded in
    stored = await env.db.conversations.get(conversation_id)
    assert stored is not None and stored.last_message_id != answer.id
    env.clock.at += timedelta(seconds=30)
    assert await env.runner.sweep() == 0
    assert await env.status(conversation_id) == "bot"


# --- external bots ------------------------------------------------------------------------------


def rasa_config(env: Env, **changes: Any) -> dict[str, Any]:
    return {
        "type": "rasa",
        "name": "Rasa shop",
        "version": "2",
        "url": env.rasa.url,
        "region": "eu-central-1",
        **changes,
    }


async def test_rasa_answers_are_rendered_with_buttons_and_images(env: Env) -> None:
    env.use(rasa_config(env))
    conversation_id, first = await env.start("hello there")
    await env.runner.turn(conversation_id, first)
    bots = [m.to_wire() for m in await env.conversations.history(conversation_id) if m.sender == "bot"]
    assert [b["text"].split("\n\n")[-1] for b in bots] == [
        "echo: hello there",
        "Anything else?\nhttps://shop.example.eu/bot.png",
    ]
    assert bots[0]["text"].startswith(DISCLOSURE["en"])
    assert bots[1]["buttons"] == [{"title": "Opening hours", "payload": "/hours"}]
    assert bots[1]["bot"] == {"name": "Rasa shop", "version": "2"}
    assert await env.status(conversation_id) == "bot"


async def test_rasa_custom_handover_hands_over_after_the_items_before_it(env: Env) -> None:
    env.use(rasa_config(env))
    conversation_id, first = await env.start("handover please")
    await env.runner.turn(conversation_id, first)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "bot"
    texts = await env.bot_texts(conversation_id)
    assert texts[0].endswith("One moment.") and texts[-1] == HANDED_OVER["en"]


async def test_a_bot_that_does_not_answer_in_time_hands_over(env: Env) -> None:
    env.use(rasa_config(env))
    env.rasa.hang = True
    conversation_id, first = await env.start("hello")
    await env.runner.turn(conversation_id, first)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "timeout"
    assert (await env.bot_texts(conversation_id))[-1].endswith(HANDED_OVER["en"])


async def test_5xx_is_retried_once_then_hands_over(env: Env) -> None:
    env.use(rasa_config(env))
    env.rasa.statuses = [503, 500]
    conversation_id, first = await env.start("hello")
    await env.runner.turn(conversation_id, first)
    assert len(env.rasa.received) == 2
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "error"


async def test_one_5xx_then_an_answer_is_not_a_hand_over(env: Env) -> None:
    env.use(rasa_config(env))
    env.rasa.statuses = [502]
    conversation_id, first = await env.start("hello")
    await env.runner.turn(conversation_id, first)
    assert await env.status(conversation_id) == "bot"
    assert (await env.bot_texts(conversation_id))[0].endswith("echo: hello")


@pytest.mark.parametrize(
    "answer",
    [b"[" * 1000 + b"]" * 1000, b'[{"recipient_id": "x", "text": "a\\ud800b"}]', b'[{"text": NaN}]'],
    ids=["nested-1000", "lone-surrogate", "nan"],
)
async def test_an_answer_the_bounded_parser_refuses_hands_over(env: Env, answer: bytes) -> None:
    """A bot's answer is parsed like any untrusted JSON: too deep or malformed is a failed turn."""
    env.use(rasa_config(env))
    env.rasa.raw_answer = answer
    conversation_id, first = await env.start("hello")
    await env.runner.turn(conversation_id, first)
    conv = await env.conversations.get(conversation_id)
    assert conv.status == "open" and conv.handover_reason == "error"
    assert (await env.bot_texts(conversation_id))[-1].endswith(HANDED_OVER["en"])


async def test_an_unreachable_bot_hands_over(env: Env) -> None:
    env.use(rasa_config(env, url="http://127.0.0.1:9/webhooks/rest/webhook"))
    conversation_id, first = await env.start("hello")
    await env.runner.turn(conversation_id, first)
    assert (await env.conversations.get(conversation_id)).handover_reason == "error"


async def test_what_an_external_bot_receives_is_minimised_and_redacted(env: Env) -> None:
    env.use(rasa_config(env))
    text = f"Hi, I am {CANARY_NAME}, mail {CANARY_EMAIL} or call {CANARY_PHONE}; see {CANARY_PAGE}"
    conversation_id, first = await env.start(text, name=CANARY_NAME, email=CANARY_EMAIL, page_url=CANARY_PAGE)
    await env.runner.turn(conversation_id, first)
    await env.runner.turn(conversation_id, await env.say(conversation_id, f"again: {CANARY_EMAIL}"))
    sent = b"".join(env.rasa.received)
    for canary in (
        CANARY_NAME,
        "Sevenfour",
        CANARY_EMAIL,
        CANARY_PHONE,
        CANARY_PAGE,
        CANARY_UA,
        CANARY_IP,
        conversation_id,
    ):
        assert canary.encode() not in sent, canary
    bodies = [json.loads(raw) for raw in env.rasa.received]
    assert {b["sender"] for b in bodies} == {bot_sender(env.hmac_keys, conversation_id)}
    assert all(set(b) == {"sender", "message", "metadata"} and b["metadata"] == {} for b in bodies)
    assert "[email]" in bodies[0]["message"] and "[phone]" in bodies[0]["message"]
    # another conversation of the same visitor gets another pseudonym
    other_id, _ = await env.start("hello")
    assert bot_sender(env.hmac_keys, other_id) != bodies[0]["sender"]


async def test_a_site_opts_in_field_by_field_and_may_turn_redaction_off(env: Env) -> None:
    env.use(rasa_config(env, share=["email", "language"], redact=False))
    conversation_id, first = await env.start(
        f"mail {CANARY_EMAIL}", language="nl", name=CANARY_NAME, email=CANARY_EMAIL, page_url=CANARY_PAGE
    )
    await env.runner.turn(conversation_id, first)
    body = json.loads(env.rasa.received[0])
    assert body["metadata"] == {"email": CANARY_EMAIL, "language": "nl"}
    assert body["message"] == f"mail {CANARY_EMAIL}"
    assert CANARY_NAME.encode() not in env.rasa.received[0] and CANARY_PAGE.encode() not in env.rasa.received[0]


# --- webhook bots -------------------------------------------------------------------------------


async def test_a_webhook_bot_gets_signed_minimised_events_and_answers_through_its_token(env: Env) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/bot", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot"
    try:
        env.use({"type": "webhook", "name": "Hookbot", "url": url, "region": "eu-central-1"})
        token, secret = await env.admin.new_token("shop")
        conversation_id, first = await env.start(
            f"I am {CANARY_NAME}, {CANARY_EMAIL}", name=CANARY_NAME, email=CANARY_EMAIL
        )
        await env.runner.turn(conversation_id, first)
        worker = DeliveryWorker(
            env.db, env.keys, env.outbox, env.webhooks, WebhookSender(dev=True, timeout_s=5), clock=env.clock
        )
        assert await worker.run_once() == 1
        headers, body = received[0]
        Webhook(secret).verify(body, headers)
        event = json.loads(body)
        assert event["type"] == "bot.message"
        sender = event["data"]["sender"]
        assert sender == bot_sender(env.hmac_keys, conversation_id)
        for canary in (CANARY_NAME, CANARY_EMAIL, CANARY_IP, CANARY_UA, conversation_id):
            assert canary.encode() not in body
        bot = await env.admin.authenticate_bot("shop", f"Bearer {token}")
        view = await env.admin.hook_message(bot, sender, "Hello from the hook", [{"title": "Yes", "payload": "yes"}])
        assert view.text.startswith(DISCLOSURE["en"]) and view.to_wire()["buttons"] == [
            {"title": "Yes", "payload": "yes"}
        ]
        conv = await env.admin.hook_handover(bot, sender)
        assert conv.status == "open" and conv.handover_reason == "bot"
        with pytest.raises(Conflict):
            await env.admin.hook_message(bot, sender, "still here?", [])
        for wrong in (None, "Bearer nope", f"Basic {token}", token):
            with pytest.raises(Exception, match="bot token"):
                await env.admin.authenticate_bot("shop", wrong)
    finally:
        await runner.cleanup()
