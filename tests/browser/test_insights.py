"""Teams admin, search, reports (with the CSV download) in the console, and the visitor's rating
after a close in the widget: real chromium against a real server, failing on any console error."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import socketio
from playwright.async_api import Browser, Page, expect

from tests.browser.test_console import serious_axe_violations as console_axe_violations
from tests.browser.test_widget import reply, serious_axe_violations, start_conversation
from tests.browser.visit import Visit
from tests.helpers import Recorder, ServerProcess, agent_client, call, login, login_full
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(150)

PASSWORD = "correct horse battery staple"
ADMIN, ANNA = "admin@example.eu", "anna@example.eu"


@pytest.fixture
async def agent_socket(
    chat: ServerProcess, agent_account: tuple[str, str]
) -> AsyncIterator[tuple[socketio.AsyncClient, Recorder]]:
    client, recorder = await agent_client(chat, await login(chat, *agent_account))
    yield client, recorder
    await client.disconnect()


LABELS = {"en-US": ("E-mail", "Password", "Sign in"), "nl-NL": ("E-mailadres", "Wachtwoord", "Inloggen")}


async def console_page(browser: Browser, server: ServerProcess, email: str, lang: str = "en-US") -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale=lang, accept_downloads=True)
    page = await context.new_page()
    await page.goto(server.url + "/console/")
    address, password, sign_in = LABELS[lang]
    await page.get_by_label(address, exact=True).fill(email)
    await page.get_by_label(password, exact=True).fill(PASSWORD)
    await page.get_by_role("button", name=sign_in).click()
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    return page


async def test_rating_after_a_close_in_the_widget(
    visit: Visit, chat: ServerProcess, agent_socket: tuple[socketio.AsyncClient, Recorder], output_dir: Path
) -> None:
    agent, recorder = agent_socket
    await visit.load()
    conversation_id = await start_conversation(visit, recorder, "Where is my parcel?")
    await reply(agent, conversation_id, "It arrives tomorrow.", "a1")
    rating = visit.page.get_by_text("How did we do?")
    await expect(rating).to_be_hidden()  # nothing to rate while the chat is open
    assert (await call(agent, "/agent", "close", {"conversation_id": conversation_id}))["ok"]
    await expect(rating).to_be_visible()
    assert await serious_axe_violations(visit.page) == []
    await visit.page.screenshot(path=output_dir / "widget-csat.png")

    await visit.page.get_by_label("Comment (optional)").fill("Quick and friendly")
    await visit.page.get_by_role("button", name="4 of 5").click()
    await expect(visit.page.get_by_text("Thank you for your rating.")).to_be_visible()

    def stored() -> dict[str, object] | None:
        doc = chat.db().conversations.find_one({"_id": conversation_id})
        return doc.get("csat") if doc else None

    csat = await eventually(stored, what="the rating to be stored")
    assert csat["rating"] == 4 and b"Quick and friendly" not in bytes(csat["comment"])  # type: ignore[index]
    opened = await call(agent, "/agent", "open", {"conversation_id": conversation_id})
    assert opened["conversation"]["csat"] == {"rating": 4, "comment": "Quick and friendly"}
    assert await visit.csp_violations() == []


async def test_admin_makes_a_team_searches_and_downloads_the_report(
    browser: Browser, chat: ServerProcess, output_dir: Path
) -> None:
    chat.create_user(ADMIN, PASSWORD, role="admin")
    chat.create_user(ANNA, PASSWORD)
    # A conversation on the site, answered and closed, to search for and report on.
    visitor = socketio.AsyncClient(reconnection=False)
    await visitor.connect(chat.url, namespaces=["/visitor"], transports=["websocket"], auth={"site": "shop"})
    first = {"client_id": "vv1", "text": "Ik zoek de retourlabel van order 8812", "site_id": "shop"}
    conversation_id = (await call(visitor, "/visitor", "message", first))["conversation_id"]
    cookie, _ = await login_full(chat, ADMIN, PASSWORD)
    agent, _ = await agent_client(chat, cookie)
    await reply(agent, conversation_id, "Hier is hij.", "r1")
    await call(agent, "/agent", "close", {"conversation_id": conversation_id})
    assert (await call(visitor, "/visitor", "rate", {"rating": 5}))["ok"]

    page = await console_page(browser, chat, ADMIN)
    # Teams: Anna gets the shop.
    await page.get_by_role("link", name="Teams").click()
    await expect(page.get_by_text("every agent sees every site until the first team")).to_be_visible()
    new = page.locator('form[data-team="new"]')
    await new.get_by_label("Team name").fill("Webshop")
    await new.get_by_label("anna").check()
    await new.get_by_label("shop").check()
    await new.get_by_role("button", name="Add team").click()
    await expect(page.get_by_text("Team Webshop saved.")).to_be_visible()
    saved = page.get_by_role("form", name="Webshop")
    await expect(saved.get_by_label("anna")).to_be_checked()
    assert await console_axe_violations(page) == []
    team = chat.db().teams.find_one({"name": "Webshop"})
    assert team is not None and team["site_ids"] == ["shop"]

    # Search: text found in memory, the result opens the conversation in the inbox.
    await page.get_by_role("link", name="Search").click()
    await page.get_by_label("Text in messages").fill("order 8812")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.get_by_text("1 conversation(s) found.")).to_be_visible()
    await expect(page.get_by_text("retourlabel van order 8812")).to_be_visible()
    assert await console_axe_violations(page) == []
    await page.get_by_role("button", name="Open Visitor").click()
    await expect(page.get_by_role("log", name="Messages")).to_contain_text("Hier is hij.")

    # Reports: charts drawn in the page, the CSV a real download.
    await page.get_by_role("link", name="Reports").click()
    await expect(page.get_by_text("Total: 1 conversation(s).")).to_be_visible()
    await expect(page.get_by_role("img", name="Conversations per day")).to_be_visible()
    await expect(page.get_by_role("img", name="Conversations per hour of the week")).to_be_visible()
    await expect(page.get_by_text("5 of 5 on average, from 1 rating(s).")).to_be_visible()
    assert await console_axe_violations(page) == []
    await page.screenshot(path=output_dir / "console-reports.png", full_page=True)
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Download CSV").click()
    download = await waiting.value
    assert download.suggested_filename.startswith("report-") and download.suggested_filename.endswith(".csv")
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    rows = list(csv.DictReader(io.StringIO(text)))
    total = next(r for r in rows if r["section"] == "total")
    assert total["conversations"] == "1" and total["csat_average"] == "5.0"
    assert [r["key"] for r in rows if r["section"] == "team"] == [str(team["_id"])]
    # Nobody claimed it: the admin who answered it first is its agent.
    assert [(r["name"], r["csat_average"]) for r in rows if r["section"] == "agent"] == [("admin", "5.0")]
    for client in (agent, visitor):
        await client.disconnect()
    await page.context.close()


async def test_an_agent_in_another_team_finds_nothing_in_the_console(browser: Browser, chat: ServerProcess) -> None:
    chat.create_user(ADMIN, PASSWORD, role="admin")
    chat.create_user(ANNA, PASSWORD)
    visitor = socketio.AsyncClient(reconnection=False)
    await visitor.connect(chat.url, namespaces=["/visitor"], transports=["websocket"], auth={"site": "shop"})
    await call(visitor, "/visitor", "message", {"client_id": "vv2", "text": "Geheim van de shop", "site_id": "shop"})
    # A team without the shop: Anna no longer sees it, in the inbox or in a search.
    cookie, csrf = await login_full(chat, ADMIN, PASSWORD)
    async with aiohttp.ClientSession(cookies={"chat_session": cookie}) as session:
        anna_id = chat.db().users.find_one({"email": ANNA})["_id"]  # type: ignore[index]
        body = {"name": "Elsewhere", "agent_ids": [anna_id], "site_ids": []}
        async with session.post(chat.url + "/api/teams", json=body, headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 201
    page = await console_page(browser, chat, ANNA, "nl-NL")
    await expect(page.get_by_text("Geheim van de shop")).to_have_count(0)
    await page.get_by_role("link", name="Zoeken").click()
    await page.get_by_label("Tekst in berichten").fill("Geheim")
    await page.get_by_role("button", name="Zoeken", exact=True).click()
    await expect(page.get_by_text("0 gesprek(ken) gevonden.")).to_be_visible()
    await visitor.disconnect()
    await page.context.close()
