"""Bots in a real browser against a real server: the widget's greeting (nothing stored before the
visitor writes), the "Automated assistant" label, quick replies that send their payload, FAQ
answers, "Talk to a person" and an agent's reply; the console's Bot view and "Take over"."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import socketio
from playwright.async_api import Browser, Locator, expect

from tests.bot_fixtures import builtin_config
from tests.browser.conftest import NOTICE_VERSION, SITE_ID
from tests.browser.test_console import PASSWORD, Console
from tests.browser.test_console import serious_axe_violations as page_axe_violations
from tests.browser.test_widget import STORING_COLLECTIONS, serious_axe_violations, stored_counts
from tests.browser.visit import RECORD_CSP_VIOLATIONS, Visit
from tests.helpers import Recorder, ServerProcess, agent_client, call, login

pytestmark = pytest.mark.timeout(120)

AGENT = "anna@example.eu"
GREETING = "Hi! Ask me anything."
DISCLOSURE = "You are chatting with an automated assistant, not a person."
LABEL = "Shopbot · Automated assistant"
# A question whose title is markup: as a quick reply it must stay text.
MARKUP_QUESTION = '<img src=x onerror="window.__xss=1">Can I change my order?'
FAQ = [*builtin_config()["faq"], {"question": {"en": MARKUP_QUESTION}, "answer": {"en": "Yes, until it ships."}}]


@pytest.fixture
def sites_file(tmp_path: Path, host_origin: str) -> Path:
    """The test site with the built-in bot of the bot tests (no office hours: always open)."""
    path = tmp_path / "sites.json"
    site = {"origins": [host_origin], "notice_version": NOTICE_VERSION, "bot": builtin_config(faq=FAQ)}
    path.write_text(json.dumps({"sites": {SITE_ID: site}}))
    return path


@pytest.fixture
async def agent(
    chat: ServerProcess, agent_account: tuple[str, str]
) -> AsyncIterator[tuple[socketio.AsyncClient, Recorder]]:
    client, recorder = await agent_client(chat, await login(chat, *agent_account))
    yield client, recorder
    await client.disconnect()


async def agent_says(agent: socketio.AsyncClient, conversation_id: str, text: str) -> None:
    ack = await call(
        agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": uuid.uuid4().hex, "text": text}
    )
    assert ack["ok"], ack


def bot_rows(visit: Visit) -> Locator:
    return visit.page.locator("[data-chat-service] .g").filter(has=visit.page.get_by_text(LABEL))


def talk_to_a_person(visit: Visit) -> Locator:
    return visit.page.get_by_role("button", name="Talk to a person")


async def test_the_greeting_shows_on_open_labelled_with_nothing_sent_or_stored(
    visit: Visit, chat: ServerProcess
) -> None:
    await visit.load()
    await visit.open_widget()
    await expect(visit.bubble(GREETING)).to_be_visible()
    greeting = bot_rows(visit)
    await expect(greeting).to_have_count(1)
    await expect(greeting.get_by_text(LABEL)).to_be_visible()
    await expect(talk_to_a_person(visit)).to_be_visible()
    await expect(visit.composer).to_be_visible()  # nobody online, but the bot answers

    assert visit.chat_paths()[3:] == ["/api/widget/availability"]  # after the loader, the look, the bundle
    assert visit.websockets == [] and visit.set_cookies == []
    assert await visit.storage() == {"local": [], "session": [], "indexedDB": [], "cookies": []}
    assert stored_counts(chat) == dict.fromkeys(STORING_COLLECTIONS, 0)
    assert await visit.csp_violations() == []


async def test_dutch_greeting_and_label(visit: Visit) -> None:
    await visit.page.goto(visit.host.url("nl"))
    await visit.page.get_by_role("button", name="Chat openen").click()
    await expect(visit.bubble("Hoi! Stel gerust je vraag.")).to_be_visible()
    await expect(visit.page.get_by_text("Shopbot · Geautomatiseerde assistent")).to_be_visible()
    await expect(visit.page.get_by_role("button", name="Praat met een medewerker")).to_be_visible()


async def test_faq_answers_are_labelled_and_quick_replies_send_their_payload(visit: Visit, chat: ServerProcess) -> None:
    await visit.load()
    await visit.open_widget()
    await visit.send("How much does shipping cost?")
    # The first bot message says it is automated (AI Act Art. 50), and every one is labelled.
    await expect(visit.bubble(DISCLOSURE)).to_be_visible()
    await expect(visit.bubble("Shipping is free above 50 euro.")).to_be_visible()
    for row in await bot_rows(visit).all():
        await expect(row.get_by_text(LABEL)).to_be_visible()

    # Not sure: the bot offers questions as buttons, titles as text only.
    await visit.send("change order")
    button = visit.page.get_by_role("button", name=MARKUP_QUESTION)
    await expect(button).to_be_visible()
    widget = visit.page.locator("[data-chat-service]")
    assert await widget.locator(".qr img").count() == 0
    await button.click()
    await expect(visit.bubble(MARKUP_QUESTION)).to_be_visible()  # the payload, sent as my message
    await expect(visit.bubble("Yes, until it ships.")).to_be_visible()
    await expect(button).to_be_hidden()  # quick replies belong to the last message only
    assert await visit.page.evaluate("() => window.__xss") is None

    conversation = chat.db().conversations.find_one({})
    assert conversation is not None and conversation["status"] == "bot"
    texts = [m["sender"] for m in chat.db().messages.find({"conversation_id": conversation["_id"]})]
    assert texts.count("visitor") == 3
    assert await visit.csp_violations() == []


async def test_talk_to_a_person_hands_over_and_the_agents_reply_arrives(
    visit: Visit, chat: ServerProcess, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent_socket, recorder = agent
    await visit.load()
    await visit.open_widget()
    await visit.send("Which payment methods do you accept?")
    await expect(visit.bubble("iDEAL, credit card and PayPal.")).to_be_visible()
    created = await recorder.next("conversation_created")
    conversation_id = created["conversation"]["id"]

    await talk_to_a_person(visit).click()
    await expect(visit.page.get_by_text("A person will answer.")).to_be_visible()
    await expect(talk_to_a_person(visit)).to_be_hidden()
    handed = await recorder.next("conversation_updated")
    assert (handed["conversation"]["state"], handed["conversation"]["handover_reason"]) == ("waiting", "request")

    await agent_says(agent_socket, conversation_id, "Anna here.")
    await expect(visit.bubble("Anna here.")).to_be_visible()
    agent_row = visit.page.locator("[data-chat-service] .g").filter(has_text="Anna here.")
    await expect(agent_row.get_by_text("Automated assistant")).to_have_count(0)  # a person, not labelled a bot

    # The bot stays silent after the hand-over, even for a question it knows: the agent's answer
    # to it arrives, the bot's does not.
    await visit.send("How much does shipping cost?")
    await expect(visit.page.get_by_text("Delivered")).to_have_count(2)
    await agent_says(agent_socket, conversation_id, "Free above 50.")
    await expect(visit.bubble("Free above 50.")).to_be_visible()
    await expect(visit.bubble("Shipping is free above 50 euro.")).to_have_count(0)
    senders = [m["sender"] for m in chat.db().messages.find({"conversation_id": conversation_id})]
    assert senders.count("bot") == 2  # the answer before the hand-over, and the hand-over notice
    assert await visit.csp_violations() == []


async def test_talk_to_a_person_before_writing_sends_nothing_until_the_visitor_writes(
    visit: Visit, chat: ServerProcess, agent: tuple[socketio.AsyncClient, Recorder]
) -> None:
    _, recorder = agent
    await visit.load()
    await visit.open_widget()
    await talk_to_a_person(visit).click()
    await expect(visit.page.get_by_text("A person will answer.")).to_be_visible()
    assert visit.websockets == []
    assert await visit.storage() == {"local": [], "session": [], "indexedDB": [], "cookies": []}
    assert stored_counts(chat) == dict.fromkeys(STORING_COLLECTIONS, 0)

    await visit.send("How much does shipping cost?")
    created = await recorder.next("conversation_created")
    assert created["conversation"]["status"] == "open"  # with people from the start: no bot
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()
    conversation = chat.db().conversations.find_one({"_id": created["conversation"]["id"]})
    assert conversation is not None and conversation["status"] == "open"


async def test_an_agent_takes_over_from_the_console(visit: Visit, chat: ServerProcess, browser: Browser) -> None:
    chat.create_user(AGENT, PASSWORD)
    await visit.load()
    await visit.open_widget()
    await visit.send("How do I return an order?")
    await expect(visit.bubble("Use the return form within 30 days.")).to_be_visible()

    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    console = Console(await context.new_page(), chat)
    try:
        await console.open_inbox(AGENT)
        await console.tab("Bot").click()
        row = console.row("Use the return form")
        await expect(row).to_be_visible()
        await row.click()
        await expect(console.thread.get_by_text("Shopbot (automated):").first).to_be_visible()
        await expect(console.page.get_by_text("A bot is answering.")).to_be_visible()
        assert await page_axe_violations(console.page) == []

        await console.page.get_by_role("button", name="Take over").click()
        await expect(console.page.get_by_text("Assigned to you")).to_be_visible()
        await expect(console.page.get_by_role("button", name="Take over")).to_have_count(0)
        conversation = chat.db().conversations.find_one({})
        assert conversation is not None and conversation["status"] == "open"

        await console.composer.fill("Hello, Anna here. Which order is it?")
        await console.composer.press("Enter")
        await expect(visit.bubble("Hello, Anna here. Which order is it?")).to_be_visible()
        await expect(talk_to_a_person(visit)).to_be_hidden()
        assert await console.csp_violations() == []
        assert console.errors == []
    finally:
        await context.close()


async def test_widget_accessibility_with_bot_messages(visit: Visit) -> None:
    await visit.load()
    await visit.open_widget()
    await visit.send("change order")
    await expect(visit.page.get_by_role("button", name=MARKUP_QUESTION)).to_be_visible()
    assert await serious_axe_violations(visit.page) == []
    await visit.page.set_viewport_size({"width": 375, "height": 740})
    assert await serious_axe_violations(visit.page) == []
