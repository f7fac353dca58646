"""The console's bots page in a real browser: an admin edits the built-in bot's FAQ, tests a question
and sees the ranking, and sets up a webhook bot whose token is shown once. Any console error fails."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_bots import sites_file  # noqa: F401  (the site with a built-in bot)
from tests.browser.test_console import PASSWORD, serious_axe_violations
from tests.browser.visit import RECORD_CSP_VIOLATIONS
from tests.helpers import ServerProcess

pytestmark = pytest.mark.timeout(120)
ADMIN = "admin@example.eu"


@pytest.fixture
async def admin_page(browser: Browser, chat: ServerProcess) -> AsyncIterator[Page]:
    chat.create_user(ADMIN, PASSWORD, role="admin")
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await page.goto(chat.url + "/console/")
    await page.get_by_label("E-mail").fill(ADMIN)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("link", name="Bots").click()
    await expect(page.get_by_role("heading", name="Bots", level=1)).to_be_visible()
    yield page
    assert await page.evaluate("() => window.__cspViolations") == []
    await context.close()


async def test_admin_adds_an_faq_entry_and_tests_a_question(admin_page: Page, chat: ServerProcess) -> None:
    page = admin_page
    await expect(page.get_by_role("heading", name="Bot of site shop")).to_be_visible()
    await expect(page.get_by_text("From the sites file.")).to_be_visible()
    await expect(page.get_by_label("Name shown to visitors")).to_have_value("Shopbot")
    entries = page.locator(".faq-list > li")
    await expect(entries).to_have_count(7)
    assert await serious_axe_violations(page) == []

    await page.get_by_role("button", name="Add an FAQ entry").click()
    new = entries.nth(7)
    await new.get_by_role("group", name="Question").get_by_label("English").fill("Do you sell gift cards?")
    await new.get_by_role("group", name="Answer").get_by_label("English").fill("Yes, from 10 to 100 euro.")
    await new.get_by_role("group", name="Question").get_by_label("Dutch").fill("Verkopen jullie cadeaubonnen?")
    await new.get_by_role("group", name="Answer").get_by_label("Dutch").fill("Ja, van 10 tot 100 euro.")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await expect(page.get_by_text("Saved here; it replaces the bot in the sites file.")).to_be_visible()
    await expect(entries).to_have_count(8)

    await page.get_by_label("Question", exact=True).last.fill("gift card")
    await page.get_by_role("button", name="Test", exact=True).click()
    await expect(page.get_by_text("The bot would answer:")).to_be_visible()
    await expect(page.locator("blockquote")).to_have_text("Yes, from 10 to 100 euro.")
    ranking = page.get_by_role("table", name="FAQ ranking")
    await expect(ranking.locator("tbody tr").first.locator("td").nth(1)).to_have_text("Do you sell gift cards?")
    assert await serious_axe_violations(page) == []

    # In Dutch, the Dutch entry answers.
    await page.get_by_label("Language of the question").select_option("nl")
    await page.get_by_label("Question", exact=True).last.fill("cadeaubon kopen")
    await page.get_by_role("button", name="Test", exact=True).click()
    await expect(page.locator("blockquote")).to_have_text("Ja, van 10 tot 100 euro.")

    # Back to the sites file: the new entry is gone again.
    await page.get_by_role("button", name="Use the sites file's bot").click()
    await expect(page.get_by_text("Back to the sites file's bot.")).to_be_visible()
    await expect(entries).to_have_count(7)


async def test_admin_sets_up_a_webhook_bot_and_sees_its_token_once(admin_page: Page) -> None:
    page = admin_page
    await page.get_by_label("Kind of bot").select_option("webhook")
    await page.get_by_label("Bot URL").fill("http://127.0.0.1:9/bot")
    await page.get_by_label("Hosting region").fill("eu-central-1")
    redact = page.get_by_label("Redact personal data", exact=False)
    await expect(redact).to_be_checked()  # on by default; an admin may opt out
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await expect(page.get_by_text("No token yet")).to_be_visible()
    assert await serious_axe_violations(page) == []

    await page.get_by_role("button", name="Create a new token").click()
    token = page.locator("code.secret").first
    await expect(token).to_have_text(re.compile(r"^cbt_"))
    value = await token.inner_text()
    await page.reload()
    await page.get_by_role("link", name="Bots").click()
    await expect(page.get_by_text("A token is set.")).to_be_visible()
    assert value not in await page.content()

    await page.get_by_label("Language", exact=True).select_option("nl")
    await expect(page.get_by_role("heading", name="Bots", level=1)).to_be_visible()
    await expect(page.get_by_role("button", name="Nieuwe token maken")).to_be_visible()
