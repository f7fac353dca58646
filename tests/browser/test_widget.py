"""The visitor widget in a real browser, on a host page with a strict CSP, against a real server."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import socketio
from playwright.async_api import expect

from tests.browser.axe import serious_axe_violations
from tests.browser.conftest import NOTICE_VERSION, SITE_ID
from tests.browser.visit import Visit
from tests.helpers import Recorder, ServerProcess, agent_client, call, login
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)

STORING_COLLECTIONS = ("conversations", "messages", "data_keys")
STORAGE_KEY = f"chat-service:{SITE_ID}"


@pytest.fixture
async def agent(
    chat: ServerProcess, agent_account: tuple[str, str]
) -> AsyncIterator[tuple[socketio.AsyncClient, Recorder]]:
    client, recorder = await agent_client(chat, await login(chat, *agent_account))
    yield client, recorder
    await client.disconnect()


def stored_counts(chat: ServerProcess) -> dict[str, int]:
    db = chat.db()
    return {name: db[name].count_documents({}) for name in STORING_COLLECTIONS}


async def reply(agent: socketio.AsyncClient, conversation_id: str, text: str, client_id: str) -> None:
    ack = await call(
        agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": client_id, "text": text}
    )
    assert ack["ok"], ack


async def start_conversation(visit: Visit, recorder: Recorder, text: str) -> str:
    await visit.open_widget()
    await visit.send(text)
    created = await recorder.next("conversation_created")
    assert created["message"]["text"] == text
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()
    return str(created["conversation"]["id"])


async def test_before_the_first_message_nothing_is_stored_sent_or_connected(
    visit: Visit, chat: ServerProcess, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    await visit.load()
    # The loader and the site's look (the same for every visitor): nothing about this one.
    assert visit.chat_paths() == ["/widget.js", "/api/widget/site"]

    await visit.open_widget()
    await expect(visit.composer).to_be_visible()  # an agent is online: the live chat, no form
    await expect(visit.page.get_by_text("Test notice: we keep your messages")).to_be_visible()
    await expect(visit.page.get_by_role("link", name="Privacy notice")).to_have_attribute(
        "href", f"{visit.host.origin}/privacy"
    )
    await visit.composer.fill("typed, but not sent")

    paths = visit.chat_paths()
    assert paths[:2] == ["/widget.js", "/api/widget/site"]
    assert re.fullmatch(r"/widget/chat-[0-9a-f]{12}\.js", paths[2])
    assert paths[3:] == ["/api/widget/availability"]
    assert visit.websockets == []
    assert visit.set_cookies == []
    assert visit.third_party_requests() == []
    assert await visit.storage() == {"local": [], "session": [], "indexedDB": [], "cookies": []}
    assert stored_counts(chat) == dict.fromkeys(STORING_COLLECTIONS, 0)
    assert await visit.csp_violations() == []


async def test_message_reply_reload_unread_and_forget(
    visit: Visit, chat: ServerProcess, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent_socket, recorder = agent
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "Hello from the browser")
    storage = await visit.storage()
    assert storage["local"] == [STORAGE_KEY]
    assert storage["cookies"] == [] and visit.set_cookies == []
    assert any(url.startswith("ws://127.0.0.1") for url in visit.websockets)

    conversation = chat.db().conversations.find_one({"_id": conversation_id})
    assert conversation is not None
    assert (conversation["notice_version"], conversation["site_id"]) == (NOTICE_VERSION, SITE_ID)

    # Typing, both ways.
    await visit.composer.press_sequentially("more")
    typing = await recorder.next("typing")
    assert typing == {"conversation_id": conversation_id, "typing": True, "from": "visitor"}
    await call(agent_socket, "/agent", "typing", {"conversation_id": conversation_id, "typing": True})
    await expect(visit.page.get_by_text("Support is typing…")).to_be_visible()

    await reply(agent_socket, conversation_id, "Hi! How can I help?", "a1")
    await expect(visit.bubble("Hi! How can I help?")).to_be_visible()
    await expect(visit.page.get_by_text("Support is typing…")).to_be_hidden()

    # Another page of the same site: the same conversation and its history.
    await visit.page.reload()
    await visit.open_widget()
    await expect(visit.bubble("Hello from the browser")).to_be_visible()
    await expect(visit.bubble("Hi! How can I help?")).to_be_visible()
    await visit.send("Still here after a reload")
    await expect(visit.page.get_by_text("Delivered")).to_have_count(2)
    assert stored_counts(chat)["conversations"] == 1
    assert chat.db().messages.count_documents({"conversation_id": conversation_id}) == 3

    # Closed panel: a reply shows as an unread badge on the launcher.
    await visit.page.get_by_role("button", name="Close chat").click()
    await expect(visit.launcher).to_be_focused()
    await reply(agent_socket, conversation_id, "Are you still there?", "a2")
    unread = visit.page.get_by_role("button", name="Open chat (1 unread)")
    await expect(unread).to_be_visible()
    await unread.click()
    await expect(visit.bubble("Are you still there?")).to_be_visible()
    await expect(visit.page.get_by_role("button", name="Open chat", exact=True)).to_be_visible()

    # Forget this device: the token leaves the browser and stops working on the server.
    await visit.forget_button.click()
    await expect(visit.page.get_by_text("This device no longer keeps the chat.")).to_be_visible()
    await expect(visit.bubble("Hello from the browser")).to_have_count(0)
    assert (await visit.storage())["local"] == []
    await eventually(
        lambda: chat.db().conversations.find_one({"_id": conversation_id})["resume_token_hash"] == "",
        what="the resume token to be revoked",
    )
    sockets_before = len(visit.websockets)
    await visit.page.reload()
    await visit.open_widget()
    await expect(visit.composer).to_be_visible()
    await expect(visit.bubble("Hello from the browser")).to_have_count(0)
    assert len(visit.websockets) == sockets_before  # nothing to resume, so no connection
    assert await visit.csp_violations() == []


async def test_offline_form_when_no_agent_is_online(visit: Visit, chat: ServerProcess) -> None:
    await visit.load()
    await visit.open_widget()
    email = visit.page.get_by_role("textbox", name="E-mail (required)")
    await expect(email).to_be_focused()
    await expect(visit.composer).to_be_hidden()
    await visit.page.get_by_role("textbox", name="Message", exact=True).fill("Please call me back")
    await visit.page.get_by_role("button", name="Leave a message").click()
    assert await email.evaluate("(el) => el.matches(':invalid')")  # the e-mail is required
    assert visit.websockets == [] and stored_counts(chat)["conversations"] == 0

    await email.fill("visitor@example.eu")
    await visit.page.get_by_role("textbox", name="Name (optional)").fill("Vera Visitor")
    await visit.page.get_by_role("button", name="Leave a message").click()
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()
    await expect(visit.page.get_by_text("Thank you. We will answer by e-mail.")).to_be_visible()

    conversation = chat.db().conversations.find_one({})
    assert conversation is not None
    assert conversation["offline"] is True
    assert conversation["notice_version"] == NOTICE_VERSION
    assert b"visitor@example.eu" not in json.dumps(conversation, default=repr).encode()  # encrypted
    assert {"email", "name"} <= set(conversation["visitor"])
    assert await visit.csp_violations() == []


async def test_markup_in_an_agent_reply_is_shown_as_text_and_runs_nothing(
    visit: Visit, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent_socket, recorder = agent
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "<i>visitor</i> markup too")
    payload = '<img src="/x.png" onerror="window.__xss=1"><script>window.__xss=2</script><b>bold</b>'
    await reply(agent_socket, conversation_id, payload, "xss")
    bubble = visit.bubble("window.__xss=2")
    await expect(bubble).to_be_visible()
    assert await bubble.text_content() == "Support: " + payload
    widget = visit.page.locator("[data-chat-service]")
    assert await widget.locator("img, script, b, i").count() == 0
    assert await visit.page.evaluate("() => window.__xss") is None
    assert not any(url.endswith("/x.png") for url in visit.requests)
    await expect(visit.bubble("<i>visitor</i> markup too")).to_be_visible()
    assert await visit.csp_violations() == []


@pytest.mark.allow_console_errors(
    r"ERR_CONNECTION_REFUSED \(at http://127\.0\.0\.1:\d+/socket\.io/",
    r"WebSocket connection to 'ws://127\.0\.0\.1:\d+/socket\.io/.*failed",
)  # server down on purpose
async def test_unacknowledged_messages_are_resent_after_reconnecting(
    visit: Visit,
    chat: ServerProcess,
    agent: tuple[socketio.AsyncClient, Recorder],
) -> None:
    _, recorder = agent
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "Before the outage")

    chat.stop()
    await expect(visit.page.get_by_text("Connection lost. Reconnecting…")).to_be_visible()
    await visit.send("Written during the outage")
    pending = visit.page.locator("[data-chat-service] .g").filter(has_text="Written during the outage")
    await expect(pending.get_by_text("Sending…")).to_be_visible()

    chat.start()
    await expect(pending.get_by_text("Delivered")).to_be_visible(timeout=30_000)
    await expect(visit.page.get_by_text("Connection lost. Reconnecting…")).to_be_hidden()
    texts = [m["client_id"] for m in chat.db().messages.find({"conversation_id": conversation_id})]
    assert len(texts) == len(set(texts)) == 2  # stored once each, nothing lost
    assert stored_counts(chat)["conversations"] == 1


async def test_keyboard_only(visit: Visit, agent: tuple[socketio.AsyncClient, Recorder]) -> None:
    _, recorder = agent
    await visit.load()
    await visit.page.keyboard.press("Tab")
    await expect(visit.launcher).to_be_focused()
    await visit.page.keyboard.press("Enter")
    await expect(visit.composer).to_be_focused()
    await visit.page.keyboard.type("Typed with the keyboard")
    await visit.page.keyboard.press("Enter")
    assert (await recorder.next("conversation_created"))["message"]["text"] == "Typed with the keyboard"
    await visit.page.keyboard.press("Escape")
    await expect(visit.panel).to_be_hidden()
    await expect(visit.launcher).to_be_focused()


async def test_dutch_from_data_lang(visit: Visit) -> None:
    await visit.page.goto(visit.host.url("nl"))
    await visit.page.get_by_role("button", name="Chat openen").click()
    await expect(visit.page.get_by_role("dialog", name="Chat met ons")).to_be_visible()
    await expect(visit.page.get_by_role("textbox", name="E-mailadres (verplicht)")).to_be_visible()
    # No Dutch text configured for this site: the default Dutch notice is shown.
    await expect(visit.page.get_by_text("Er wordt niets opgeslagen totdat je een bericht stuurt.")).to_be_visible()


@pytest.mark.allow_console_errors(r"violates the following Content Security Policy directive")  # provoked on purpose
async def test_the_csp_check_sees_violations(visit: Visit) -> None:
    """The CSP assertions above are not vacuous: a blocked load is recorded."""
    await visit.load()
    await visit.page.evaluate("() => { const i = new Image(); i.src = 'http://127.0.0.2:9/blocked.png'; }")
    violations = await eventually(visit.csp_violations, what="a CSP violation report")
    assert any("blocked.png" in json.dumps(v) for v in violations)


async def test_accessibility_and_screenshots(
    visit: Visit, agent: tuple[socketio.AsyncClient, Recorder], output_dir: Path
) -> None:
    agent_socket, recorder = agent
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "Do you ship to Belgium?")
    await reply(agent_socket, conversation_id, "Yes, within two working days.", "a1")
    await expect(visit.bubble("Yes, within two working days.")).to_be_visible()

    assert await serious_axe_violations(visit.page) == []
    await visit.page.screenshot(path=output_dir / "widget-desktop.png")

    await visit.page.set_viewport_size({"width": 375, "height": 740})
    box = await visit.panel.bounding_box()
    assert box is not None and box["width"] == 375  # full screen on a phone
    assert await serious_axe_violations(visit.page) == []
    await visit.page.screenshot(path=output_dir / "widget-375.png")
    assert await visit.csp_violations() == []


async def test_forgetting_closes_the_conversation_and_tells_the_agent(
    visit: Visit, chat: ServerProcess, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent_socket, recorder = agent
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "Please forget me afterwards")
    await call(agent_socket, "/agent", "claim", {"conversation_id": conversation_id})
    assert (await recorder.next("conversation_updated"))["conversation"]["status"] == "open"

    await visit.forget_button.click()
    await expect(visit.page.get_by_text("This device no longer keeps the chat.")).to_be_visible()
    told = (await recorder.next("conversation_updated"))["conversation"]
    assert (told["id"], told["status"], told["visitor_left"]) == (conversation_id, "closed", True)
    stored = chat.db().conversations.find_one({"_id": conversation_id})
    assert stored is not None and stored["status"] == "closed"
    assert stored["resume_token_hash"] == "" and "first_client_hash" not in stored


async def test_an_offline_message_answered_live_no_longer_promises_an_e_mail(
    visit: Visit, chat: ServerProcess, agent_account: tuple[str, str]
) -> None:
    await visit.load()
    await visit.open_widget()
    await visit.page.get_by_role("textbox", name="E-mail (required)").fill("visitor@example.eu")
    await visit.page.get_by_role("textbox", name="Message", exact=True).fill("Anyone there later?")
    await visit.page.get_by_role("button", name="Leave a message").click()
    promise = visit.page.get_by_text("Thank you. We will answer by e-mail.")
    await expect(promise).to_be_visible()
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()

    # An agent comes online and answers right away, in the chat.
    agent_socket, _ = await agent_client(chat, await login(chat, *agent_account))
    conversation = chat.db().conversations.find_one({})
    assert conversation is not None and conversation["offline"] is True
    await reply(agent_socket, conversation["_id"], "I am here now, how can I help?", "a1")
    await expect(visit.bubble("I am here now, how can I help?")).to_be_visible()
    await expect(promise).to_be_hidden()
    await agent_socket.disconnect()


async def test_the_notice_gives_way_once_a_conversation_exists(
    visit: Visit, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    _, recorder = agent
    await visit.load()
    await visit.open_widget()
    notice = visit.page.get_by_text("Test notice: we keep your messages")
    privacy_link = visit.page.get_by_role("link", name="Privacy notice")
    await expect(notice).to_be_visible()
    await visit.send("A question about delivery")
    await recorder.next("conversation_created")
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()
    await expect(notice).to_be_hidden()
    await expect(privacy_link).to_be_visible()  # what we do with the data stays one click away

    await visit.page.reload()
    await visit.open_widget()
    await expect(visit.bubble("A question about delivery")).to_be_visible()
    await expect(notice).to_be_hidden()

    await visit.forget_button.click()  # no conversation any more: the notice is back for the next one
    await expect(notice).to_be_visible()
