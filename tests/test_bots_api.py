"""Bots through the running server: the widget's public bot configuration, the visitor's socket
(bot replies after the ack, "Talk to a person"), the agents' Bot view and take-over, the admin API."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from chat_service.bots.texts import DISCLOSURE, HANDED_OVER, LABEL
from tests.bot_fixtures import builtin_config
from tests.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.helpers import SecantusProcess, ServerProcess, agent_client, call, login, visitor_client
from tests.test_webhooks_api import admin_of

ORIGIN = "http://127.0.0.1"


@pytest.fixture
def bot_server(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    sites = tmp_path / "sites.json"
    sites.write_text(
        json.dumps({"sites": {"shop": {"origins": [], "bot": builtin_config()}, "plain": {"origins": []}}})
    )
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra={"CHAT_SITES_FILE": str(sites)}).start()
    yield proc
    proc.stop()


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def first_message(text: str, site: str = "shop", language: str = "en") -> dict[str, Any]:
    return {"client_id": uuid.uuid4().hex, "text": text, "site_id": site, "profile": {"language": language}}


async def test_the_widget_reads_the_bot_greeting_and_label_before_contact(bot_server: ServerProcess) -> None:
    status, body = await get_json(bot_server.url + "/api/widget/availability?site=shop&lang=nl")
    assert status == 200
    assert body["bot"] == {
        "name": "Shopbot",
        "greeting": "Hoi! Stel gerust je vraag.",
        "label": LABEL["nl"],
        "within_hours": True,
    }
    _, plain = await get_json(bot_server.url + "/api/widget/availability?site=plain")
    assert plain["bot"] is None
    assert bot_server.db().conversations.count_documents({}) == 0  # nothing stored before contact


async def test_the_bot_answers_after_the_ack_and_hands_over_on_request(bot_server: ServerProcess) -> None:
    bot_server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    agent, agent_events = await agent_client(bot_server, await login(bot_server, AGENT_EMAIL, AGENT_PASSWORD))
    visitor, events = await visitor_client(bot_server)
    try:
        ack = await call(visitor, "/visitor", "message", first_message("What are your opening hours?"))
        assert ack["ok"] and ack["message"]["sender"] == "visitor"
        conversation_id = ack["conversation_id"]
        reply = (await events.next("message"))["message"]
        assert reply["sender"] == "bot" and reply["bot"] == {"name": "Shopbot", "version": "3"}
        assert reply["text"].startswith(DISCLOSURE["en"]) and "9:00 to 17:00" in reply["text"]
        assert "agent_id" not in reply
        listed = await call(agent, "/agent", "list", {"status": "bot"})
        assert [(c["id"], c["state"]) for c in listed["conversations"]] == [(conversation_id, "bot")]

        handed = await call(visitor, "/visitor", "handover", {})
        assert handed == {"ok": True, "status": "open"}
        assert await events.next("conversation_status") == {"status": "open", "handed_over": True}
        assert (await events.next("message"))["message"]["text"] == HANDED_OVER["en"]
        waiting = await call(agent, "/agent", "list", {"status": "waiting"})
        row = next(c for c in waiting["conversations"] if c["id"] == conversation_id)
        assert row["state"] == "waiting" and row["handover_reason"] == "request"

        # silent ever after: an agent answers, the bot does not
        await call(visitor, "/visitor", "message", {"client_id": "k2", "text": "opening hours"})
        answer = await call(
            agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": "r1", "text": "Hi!"}
        )
        assert answer["ok"]
        got = (await events.next("message"))["message"]
        assert got["sender"] == "agent" and got["text"] == "Hi!"
        history = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
        assert [m["sender"] for m in history["messages"]] == ["visitor", "bot", "bot", "visitor", "agent"]
        assert await call(visitor, "/visitor", "handover", {}) == {"ok": True, "status": "open"}
        assert await call(visitor, "/visitor", "handover", {"x": 1}) == {
            "ok": False,
            "error": {"code": "invalid_input", "message": "'handover' takes no fields."},
        }
    finally:
        await visitor.disconnect()
        await agent.disconnect()
    del agent_events


async def test_talk_to_a_person_before_writing_starts_without_the_bot(bot_server: ServerProcess) -> None:
    visitor, events = await visitor_client(bot_server)
    try:
        assert await call(visitor, "/visitor", "handover", {}) == {"ok": True, "status": None}
        ack = await call(visitor, "/visitor", "message", first_message("opening hours"))
        conv = bot_server.db().conversations.find_one({"_id": ack["conversation_id"]})
        assert conv is not None and conv["status"] == "open" and conv["assigned_agent_id"] is None
        resumed = await call(visitor, "/visitor", "resume", {"token": ack["token"]})
        assert resumed["status"] == "open" and [m["sender"] for m in resumed["messages"]] == ["visitor"]
        assert events.pending("message") == 0
    finally:
        await visitor.disconnect()


async def test_admins_configure_test_and_reset_a_sites_bot(bot_server: ServerProcess) -> None:
    admin = await admin_of(bot_server)
    status, body = await admin.request("GET", "/api/bots")
    assert status == 200
    rows = {b["site_id"]: b for b in body["bots"]}
    assert rows["shop"]["source"] == "file" and rows["plain"]["source"] == "none"

    status, body = await admin.request("PUT", "/api/bots/plain", {"type": "builtin", "name": "x", "max_misses": 0})
    assert status == 400 and body["details"]["field"] == "max_misses"
    status, body = await admin.request(
        "PUT", "/api/bots/plain", {"type": "rasa", "name": "R", "url": "http://127.0.0.1:1/x", "region": "us-east-1"}
    )
    assert status == 200  # dev mode: loopback and any region are allowed, as for webhooks
    status, body = await admin.request("PUT", "/api/bots/plain", builtin_config(name="Plainbot"))
    assert status == 200 and body["bot"]["source"] == "database" and body["bot"]["config"]["name"] == "Plainbot"
    _, public = await get_json(bot_server.url + "/api/widget/availability?site=plain")
    assert public["bot"]["name"] == "Plainbot"

    before = {n: bot_server.db()[n].count_documents({}) for n in bot_server.db().list_collection_names()}
    status, body = await admin.request("POST", "/api/bots/plain/test", {"text": "openign hours", "language": "en"})
    assert status == 200 and body["decision"] == "answer"
    assert body["ranking"][0]["question"] == "What are your opening hours?" and body["ranking"][0]["confidence"] > 0.5
    assert body["reply"]["text"].startswith("Monday")
    status, body = await admin.request("POST", "/api/bots/plain/test", {"text": "order"})
    assert body["decision"] == "suggest" and body["reply"]["buttons"]
    after = {n: bot_server.db()[n].count_documents({}) for n in bot_server.db().list_collection_names()}
    assert {n: c for n, c in after.items() if n != "audit_events"} == {
        n: c for n, c in before.items() if n != "audit_events"
    }  # the test stored nothing

    status, body = await admin.request("DELETE", "/api/bots/plain")
    assert status == 200 and body["bot"]["source"] == "none"
    status, _ = await admin.request("PUT", "/api/bots/nope", builtin_config())
    assert status == 404
    status, body = await admin.request("POST", "/api/bots/shop/token")
    assert status == 409  # not a webhook bot
    actions = [e["action"] for e in bot_server.db().audit_events.find({"action": {"$regex": "^bot\\."}})]
    assert actions.count("bot.updated") == 2 and actions.count("bot.reset") == 1


async def test_agents_may_not_configure_bots_and_hooks_need_the_bot_token(bot_server: ServerProcess) -> None:
    bot_server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    cookie = await login(bot_server, AGENT_EMAIL, AGENT_PASSWORD)
    async with aiohttp.ClientSession(cookies={"chat_session": cookie}) as session:
        async with session.get(bot_server.url + "/api/bots") as response:
            assert response.status == 403
    sender = "0" * 32
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer cbt_wrong"}):
            async with session.post(
                bot_server.url + "/api/bot-hooks/shop/messages", json={"sender": sender, "text": "hi"}, headers=headers
            ) as response:
                assert response.status == 401
                assert (await response.json())["code"] == "unauthenticated"


async def test_check_reports_every_sites_bot(bot_server: ServerProcess) -> None:
    admin = await admin_of(bot_server)
    rasa = {"type": "rasa", "name": "R", "url": "http://127.0.0.1:1/x", "region": "us-east-1"}
    assert (await admin.request("PUT", "/api/bots/plain", rasa))[0] == 200
    result = bot_server.run_cli("check")
    assert "bot of site shop: builtin 'Shopbot' v3 (file)" in result.stdout
    assert "bot of site plain: rasa 'R' v1 (database) at http://127.0.0.1:1/x in us-east-1" in result.stdout


async def test_an_agent_claiming_a_bot_conversation_takes_it_over_and_the_visitor_is_told(
    bot_server: ServerProcess,
) -> None:
    bot_server.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    agent, _ = await agent_client(bot_server, await login(bot_server, AGENT_EMAIL, AGENT_PASSWORD))
    visitor, events = await visitor_client(bot_server)
    try:
        ack = await call(visitor, "/visitor", "message", first_message("Wat kost de verzending?", language="nl"))
        conversation_id = ack["conversation_id"]
        assert (await events.next("message"))["message"]["text"].startswith(DISCLOSURE["nl"])
        claimed = await call(agent, "/agent", "claim", {"conversation_id": conversation_id})
        assert claimed["conversation"]["state"] == "open" and claimed["conversation"]["handover_reason"] == "agent"
        assert await events.next("conversation_status") == {"status": "open", "handed_over": True}
        await call(visitor, "/visitor", "message", {"client_id": "k2", "text": "wat kost de verzending"})
        await call(agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": "r1", "text": "Gratis!"})
        assert (await events.next("message"))["message"]["sender"] == "agent"  # not the bot
    finally:
        await visitor.disconnect()
        await agent.disconnect()


async def test_a_webhook_bot_end_to_end_signed_events_out_token_replies_in(bot_server: ServerProcess) -> None:
    events_in: list[dict[str, Any]] = []
    got_one = asyncio.Event()
    secret_box: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        events_in.append(Webhook(secret_box[0]).verify(body, dict(request.headers)))
        got_one.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/bot", receive)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot"
    admin = await admin_of(bot_server)
    visitor, events = await visitor_client(bot_server)
    try:
        config = {"type": "webhook", "name": "Hookbot", "url": url, "region": "eu-central-1"}
        assert (await admin.request("PUT", "/api/bots/plain", config))[0] == 200
        status, made = await admin.request("POST", "/api/bots/plain/token")
        assert status == 201 and made["token"].startswith("cbt_") and made["secret"].startswith("whsec_")
        secret_box.append(made["secret"])
        stored = bot_server.db().bot_tokens.find_one({"_id": "plain"})
        assert stored is not None and made["token"] not in str(stored)  # only its hash is kept

        ack = await call(visitor, "/visitor", "message", first_message("my mail is canary@example.eu", site="plain"))
        await asyncio.wait_for(got_one.wait(), 20)
        data = events_in[0]["data"]
        assert events_in[0]["type"] == "bot.message" and data["text"] == "my mail is [email]"
        assert ack["conversation_id"] not in json.dumps(events_in[0])

        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {made['token']}"}) as session:
            hook = bot_server.url + "/api/bot-hooks/plain"
            async with session.post(hook + "/messages", json={"sender": data["sender"], "text": "Hello!"}) as r:
                assert r.status == 202
            reply = (await events.next("message"))["message"]
            assert reply["sender"] == "bot" and reply["text"] == DISCLOSURE["en"] + "\n\nHello!"
            async with session.post(hook + "/handover", json={"sender": data["sender"]}) as r:
                assert r.status == 200 and (await r.json()) == {"status": "open"}
            async with session.post(hook + "/messages", json={"sender": data["sender"], "text": "Still me"}) as r:
                assert r.status == 409
    finally:
        await visitor.disconnect()
        await runner.cleanup()
