# ruff: noqa: F811  (the fixtures imported from test_console are redefined as parameters)
"""The console as a workspace in a real browser: full-height resizable panes at 1280x720 and on a
tablet, tabs that never wrap, deep links with back/forward, internal notes, labels, earlier
conversations, colleagues viewing/typing, agent status, refused notifications, Dutch with 24-hour
times, axe on every page, and screenshots (under test-output/, git-ignored)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.test_console import (  # noqa: F401
    ADMIN,
    ANNA,
    BRAM,
    PASSWORD,
    Console,
    accounts,
    consoles,
    serious_axe_violations,
    visitor_says,
)
from tests.browser.visit import RECORD_CSP_VIOLATIONS
from tests.helpers import ServerProcess, call
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(180)


async def console_at(
    browser: Browser, server: ServerProcess, width: int, height: int, locale: str = "en-US"
) -> Console:
    context = await browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    return Console(await context.new_page(), server)


async def boxes(page: Page, selector: str) -> list[dict[str, float]]:
    return list(
        await page.locator(selector).evaluate_all(
            "(els) => els.map((el) => { const r = el.getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height, bottom: r.bottom, right: r.right}; })"
        )
    )


async def assert_tabs_on_one_line(page: Page) -> None:
    # The list redraws its tabs on every live update: measure a drawn set.
    tabs = await eventually(lambda: _drawn_tabs(page), timeout=10, what="the tabs drawn with a size")
    assert len(tabs) >= 4
    assert len({round(t["y"]) for t in tabs}) == 1, tabs  # one row
    assert len({round(t["height"]) for t in tabs}) == 1, tabs  # no tab's label wraps inside it
    tablist = (await boxes(page, "[role=tablist]"))[0]
    assert tablist["height"] < 2 * tabs[0]["height"], (tablist, tabs)  # the list did not grow a line


async def _drawn_tabs(page: Page) -> list[dict[str, float]] | None:
    tabs = await boxes(page, "[role=tab]")
    return tabs if tabs and all(t["height"] > 0 for t in tabs) else None


# A reload while Socket.IO is still upgrading to WebSocket makes Chromium log this; nothing is lost.
RELOAD_WHILE_CONNECTING = r"WebSocket is closed before the connection is established"


@pytest.mark.allow_console_errors(RELOAD_WHILE_CONNECTING)
async def test_full_height_panes_at_1280x720_resize_remember_and_never_wrap_tabs(
    browser: Browser,
    server: ServerProcess,
    accounts: None,
    output_dir: Path,
) -> None:
    visitors = []
    for text, profile in [
        ("Is the blue jacket available in size M?", {"name": "Sofie Janssens-Van den Bergh de Vries"}),
        ("My order #1042 has not arrived yet.", {"name": "Lukas Weber", "email": "lukas@example.eu"}),
        ("Can I pay by bank transfer?", None),
    ]:
        client, _, _ = await visitor_says(server, text, profile)
        visitors.append(client)
    anna = await console_at(browser, server, 1280, 720)
    page = anna.page
    await anna.open_inbox(ANNA)
    await expect(anna.row("Lukas Weber")).to_be_visible()

    # Three panes side by side, filling the window to its bottom edge.
    inbox = (await boxes(page, ".inbox"))[0]
    assert abs(inbox["bottom"] - 720) <= 1 and abs(inbox["right"] - 1280) <= 1, inbox
    panes = await boxes(page, ".inbox > .pane")
    assert len(panes) == 3 and panes[0]["right"] <= panes[1]["x"] and panes[1]["right"] <= panes[2]["x"], panes
    assert all(abs(p["bottom"] - 720) <= 1 for p in panes), panes
    await assert_tabs_on_one_line(page)
    # At the default widths every tab is fully in view (narrower lists scroll the tabs sideways).
    widths = await page.locator("[role=tablist]").evaluate(
        "(el) => [el.scrollWidth, el.clientWidth, [...el.children].map((t) => t.textContent)]"
    )
    assert widths[0] <= widths[1] + 1, widths
    await anna.row("Lukas Weber").click()
    await expect(page.get_by_role("heading", name="Lukas Weber", level=2)).to_be_visible()
    await page.screenshot(path=output_dir / "console-inbox-1280x720.png")
    await anna.composer.fill("Sorry to hear that! Let me check the tracking for you.")
    await anna.composer.press("Enter")
    await expect(anna.thread).to_contain_text("Let me check the tracking")
    composer_box = (await boxes(page, ".composer"))[0]
    assert composer_box["bottom"] <= 720, composer_box  # the reply box is on screen without scrolling
    await page.screenshot(path=output_dir / "console-conversation-1280x720.png")
    assert await serious_axe_violations(page) == []

    # Drag the list's splitter 80 px to the right: the list grows, and stays so after a reload.
    before = (await boxes(page, ".list.pane"))[0]["width"]
    handle = (await boxes(page, ".splitter.list"))[0]
    await page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + 200)
    await page.mouse.down()
    await page.mouse.move(handle["x"] + handle["width"] / 2 + 80, handle["y"] + 200, steps=5)
    await page.mouse.up()
    grown = (await boxes(page, ".list.pane"))[0]["width"]
    assert 70 <= grown - before <= 90, (before, grown)
    # The keyboard works too: the details splitter is a focusable separator.
    details_before = (await boxes(page, ".side.pane"))[0]["width"]
    await page.get_by_role("separator", name="Width of the details pane").focus()
    await page.keyboard.press("ArrowLeft")
    assert (await boxes(page, ".side.pane"))[0]["width"] > details_before

    # Compact density: shorter rows; remembered too.
    row_height = (await boxes(page, "#inbox-list a.row"))[0]["height"]
    await page.get_by_label("Compact view").check()
    assert (await boxes(page, "#inbox-list a.row"))[0]["height"] < row_height
    await page.reload()
    await expect(page.get_by_role("heading", name="Lukas Weber", level=2)).to_be_visible()  # the deep link
    assert abs((await boxes(page, ".list.pane"))[0]["width"] - grown) <= 1
    await expect(page.get_by_label("Compact view")).to_be_checked()
    await assert_tabs_on_one_line(page)

    # Dutch labels are longer: still one line.
    await page.get_by_label("Language").select_option("nl")
    await expect(page.get_by_role("tab", name=re.compile("^Wachtend"))).to_be_visible()
    await assert_tabs_on_one_line(page)
    assert await serious_axe_violations(page) == []
    assert await anna.csp_violations() == []
    for client in visitors:
        await client.disconnect()
    await page.context.close()


async def test_tablet_width_keeps_list_and_conversation_and_opens_details_as_a_drawer(
    browser: Browser,
    server: ServerProcess,
    accounts: None,
    output_dir: Path,
) -> None:
    visitor, _, _ = await visitor_says(server, "Do you deliver on Saturdays?", {"name": "Noor"})
    anna = await console_at(browser, server, 800, 1100)
    page = anna.page
    await anna.open_inbox(ANNA)
    await assert_tabs_on_one_line(page)
    await anna.row("Noor").click()
    await expect(anna.thread).to_contain_text("Do you deliver on Saturdays?")
    listing, conversation = (await boxes(page, ".list.pane"))[0], (await boxes(page, ".conversation-pane"))[0]
    assert listing["right"] <= conversation["x"] and conversation["right"] <= 801, (listing, conversation)
    assert conversation["width"] >= 400, conversation  # the conversation keeps most of the width
    details = page.get_by_role("heading", name="Visitor details")
    await expect(details).to_be_hidden()
    toggle = page.get_by_role("button", name="Details")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(details).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    assert await serious_axe_violations(page) == []
    await page.screenshot(path=output_dir / "console-tablet-800.png")
    await toggle.click()
    await expect(details).to_be_hidden()
    await visitor.disconnect()
    await page.context.close()


@pytest.mark.allow_console_errors(RELOAD_WHILE_CONNECTING)
async def test_deep_links_back_and_forward(
    browser: Browser,
    server: ServerProcess,
    accounts: None,
) -> None:
    first, _, first_id = await visitor_says(server, "First question", {"name": "Ada"})
    second, _, second_id = await visitor_says(server, "Second question", {"name": "Bea"})
    anna = await console_at(browser, server, 1280, 720)
    page = anna.page
    # A deep link before signing in: after signing in, that conversation is open.
    await page.goto(f"{server.url}/console/c/{first_id}")
    await anna.login(ANNA)
    await expect(page.get_by_role("heading", name="Ada", level=2)).to_be_visible()
    assert page.url.endswith(f"/console/c/{first_id}")

    await anna.row("Bea").click()
    await expect(page.get_by_role("heading", name="Bea", level=2)).to_be_visible()
    assert page.url.endswith(f"/console/c/{second_id}")
    await expect(anna.row("Bea")).to_have_attribute("aria-current", "true")
    await expect(anna.row("Bea")).to_have_attribute("href", f"/console/c/{second_id}")  # opens in a new tab too
    await page.get_by_role("link", name="Account").click()
    await expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()

    await page.go_back()
    await expect(page.get_by_role("heading", name="Bea", level=2)).to_be_visible()
    await page.go_back()
    await expect(page.get_by_role("heading", name="Ada", level=2)).to_be_visible()
    await page.go_forward()
    await expect(page.get_by_role("heading", name="Bea", level=2)).to_be_visible()
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_text("Choose a conversation from the list.")).to_be_visible()
    await page.go_back()
    await expect(page.get_by_role("heading", name="Bea", level=2)).to_be_visible()

    # The server serves the console (with its CSP) for deep links, and only for ids.
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{server.url}/console/c/{first_id}") as resp:
            assert resp.status == 200 and "default-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Frame-Options"] == "DENY"
        async with session.get(f"{server.url}/console/c/not-an-id") as resp:
            assert resp.status == 404 and "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    await page.goto(f"{server.url}/console/c/c{'0' * 24}")
    await expect(page.get_by_text("This conversation does not exist (any more).")).to_be_visible()
    for client in (first, second):
        await client.disconnect()
    await page.context.close()


async def test_notes_labels_earlier_conversations_and_colleagues_at_work(
    consoles: list[Console],
    server: ServerProcess,
    accounts: None,
    output_dir: Path,
) -> None:
    anna, bram = consoles
    old, _, old_id = await visitor_says(server, "Last month's question", {"name": "Vera", "email": "vera@example.nl"})
    await call(old, "/visitor", "forget", {})
    visitor, heard, conversation_id = await visitor_says(
        server, "Where is my refund?", {"name": "Vera", "email": "Vera@example.nl"}
    )
    await anna.open_inbox(ANNA)
    await bram.open_inbox(BRAM)
    await anna.row("Where is my refund?").click()
    await bram.row("Where is my refund?").click()
    await expect(anna.page.get_by_role("status").filter(has_text="bram is viewing this conversation")).to_be_visible()
    await expect(bram.page.get_by_role("status").filter(has_text="anna is viewing this conversation")).to_be_visible()

    # An internal note: marked as such for both agents, never sent to the visitor.
    await anna.page.get_by_role("radio", name="Internal note").check()
    note_box = anna.page.get_by_role("textbox", name="Internal note")
    await note_box.press_sequentially("Refund was approved")
    await expect(bram.page.get_by_text("anna is typing…")).to_be_visible()
    await note_box.press(" ")
    await note_box.press_sequentially("on Monday.")
    await note_box.press("Enter")
    await expect(anna.thread.locator(".msg.note")).to_have_text(
        re.compile(r"^Internal note by You: Refund was approved on Monday\.")
    )
    await expect(bram.thread.locator(".msg.note")).to_have_text(
        re.compile(r"^Internal note by anna: Refund was approved")
    )
    assert heard.pending("message") == 0 and heard.pending("typing") == 0
    await anna.page.get_by_role("radio", name="Reply to the visitor").check()
    await anna.composer.fill("Your refund is on its way.")
    await anna.composer.press("Enter")
    assert (await heard.next("message"))["message"]["text"] == "Your refund is on its way."
    assert heard.pending("message") == 0  # the note never came before it

    # Labels: added, shown to the colleague live (also in the list), checked, removed.
    label = anna.page.get_by_label("Add a label")
    await label.fill("Refund")
    await label.press("Enter")
    await expect(anna.page.get_by_role("button", name="Remove label refund")).to_be_visible()
    await expect(bram.page.get_by_role("button", name="Remove label refund")).to_be_visible()
    await expect(bram.row("Vera").locator(".chip")).to_have_text("refund")
    await label.fill("-nope")
    await label.press("Enter")
    await expect(anna.page.get_by_role("alert").filter(has_text="A label is 1 to 32")).to_be_visible()
    assert server.db().conversations.find_one({"_id": conversation_id})["labels"] == ["refund"]

    # The visitor's earlier conversation (same e-mail): a link that opens it.
    earlier = anna.page.get_by_role("complementary").get_by_role("link", name=re.compile(r", closed, 1 message"))
    await expect(earlier).to_have_count(1)
    await anna.page.screenshot(path=output_dir / "console-notes-labels.png")
    assert await serious_axe_violations(anna.page) == []
    await earlier.click()
    await expect(anna.thread).to_contain_text("Last month's question")
    assert anna.page.url.endswith(f"/console/c/{old_id}")
    await expect(bram.page.get_by_role("status").filter(has_text="anna is viewing")).to_have_count(0)
    assert server.db().audit_events.count_documents({"action": "conversation.earlier_listed"}) >= 2
    assert await anna.csp_violations() == [] and await bram.csp_violations() == []
    await visitor.disconnect()
    await old.disconnect()


@pytest.mark.allow_console_errors(r"permission", r"Notification", RELOAD_WHILE_CONNECTING)
async def test_status_survives_reload_and_refused_notifications_are_explained(
    consoles: list[Console],
    server: ServerProcess,
    accounts: None,
) -> None:
    anna, bram = consoles
    await anna.open_inbox(ANNA)
    await bram.open_inbox(BRAM)
    await expect(bram.page.get_by_role("complementary").get_by_text("anna \N{EN DASH} online")).to_be_visible()
    await anna.page.get_by_label("My status").select_option("away")
    await expect(bram.page.get_by_role("complementary").get_by_text("anna \N{EN DASH} away")).to_be_visible()
    assert await widget_available(server)  # bram is online (the default)
    await bram.page.get_by_label("My status").select_option("offline")
    await expect(anna.page.get_by_role("complementary").get_by_text("bram \N{EN DASH} offline")).to_be_visible()
    assert not await widget_available(server)  # both connected, neither online: the widget offers a message
    await anna.page.reload()
    await expect(anna.page.get_by_label("My status")).to_have_value("away")

    # The browser refuses (headless Chromium answers the prompt with "denied", or has denied it
    # from the start): either way the agent is told, next to the switch.
    enable = anna.page.get_by_role("button", name="Enable notifications")
    if await enable.count():
        await enable.click()
    refused = anna.page.get_by_role("status").filter(has_text="The browser refused notifications.")
    await expect(refused).to_be_visible()
    assert await anna.page.evaluate("() => Notification.permission") != "granted"
    # Sound is opt-in and remembered.
    sound = anna.page.get_by_label("Sound for new conversations")
    await expect(sound).not_to_be_checked()
    await sound.check()
    await anna.page.reload()
    await expect(anna.page.get_by_label("Sound for new conversations")).to_be_checked()


async def widget_available(server: ServerProcess) -> bool:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/api/widget/availability", params={"site": "demo"}) as resp:
            return bool((await resp.json())["online"])


async def test_dutch_console_with_24_hour_times_and_every_page_passes_axe(
    browser: Browser,
    server: ServerProcess,
    accounts: None,
    output_dir: Path,
) -> None:
    visitor, _, _ = await visitor_says(server, "Hebben jullie dit ook in het blauw?")
    admin = await console_at(browser, server, 1280, 720, locale="nl-NL")
    page = admin.page
    await page.goto(server.url + "/console/")
    await page.get_by_label("E-mailadres").fill(ADMIN)
    await page.get_by_label("Wachtwoord").fill(PASSWORD)
    await page.get_by_role("button", name="Inloggen").click()
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    await expect(page.get_by_role("tab", name=re.compile("^Wachtend"))).to_be_visible()
    row = page.locator("#inbox-list a.row").first
    await expect(row).to_contain_text(re.compile(r"Bezoeker [0-9a-f]{6}"))
    await expect(row).to_contain_text("Bezoeker: Hebben jullie dit ook in het blauw?")
    await row.click()
    await expect(page.get_by_role("heading", level=2, name=re.compile(r"^Bezoeker [0-9a-f]{6}$"))).to_be_visible()
    await expect(page.get_by_role("textbox", name="Antwoord")).to_be_visible()
    clock_text = await page.locator(".log time").first.text_content()
    assert clock_text is not None and re.fullmatch(r"\d{2}:\d{2}", clock_text), clock_text
    started = await page.locator(".details dd time").text_content()
    assert started is not None and not re.search(r"AM|PM|/", started), started  # "25 nov 2026, 19:02"
    assert re.search(r"\b\d{1,2} \w+\.? \d{4}\b.*\d{2}:\d{2}", started), started

    # A screen-reader announcement in Dutch.
    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "Hallo?"})
    await page.get_by_role("link", name="Inbox").click()
    await call(visitor, "/visitor", "message", {"client_id": "v3", "text": "Nog iemand daar?"})
    await expect(page.locator("[aria-live=polite]")).to_have_text(
        re.compile(r"^Nieuw bericht van Bezoeker [0-9a-f]{6}$")
    )
    await page.screenshot(path=output_dir / "console-inbox-nl.png")

    # axe on every page of the console, in Dutch and in English.
    for lang in ("nl", "en"):
        await page.get_by_label(re.compile("^(Taal|Language)$")).select_option(lang)
        for link in await page.locator("nav a").all():
            await link.click()
            await expect(page.locator("main h1").first).to_be_visible()
            violations: list[dict[str, Any]] = await serious_axe_violations(page)
            assert violations == [], (lang, await link.text_content(), violations)
    assert await admin.csp_violations() == []
    await visitor.disconnect()
    await page.context.close()
