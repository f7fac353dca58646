"""The agent console in a real browser against a real server: live inbox, claims, replies to a
scripted visitor, inert markup, disabled accounts, audit, keyboard-only use, CSP and axe."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from playwright.async_api import Browser, ConsoleMessage, Dialog, Download, Locator, Page, WebSocketRoute, expect

from chat_service.login_throttle import PER_PAIR
from tests.browser.axe import serious_axe_violations
from tests.browser.visit import RECORD_CSP_VIOLATIONS
from tests.helpers import Recorder, ServerProcess, call, login_full, visitor_client
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery staple"
ANNA, BRAM, ADMIN = "anna@example.eu", "bram@example.eu", "admin@example.eu"
XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'


@dataclass
class Console:
    """One agent's browser context on /console/, recording CSP violations, dialogs and errors."""

    page: Page
    server: ServerProcess
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _on_console(self, message: ConsoleMessage) -> None:
        # A 401 from GET /api/session is how the page learns that nobody is signed in yet.
        if message.type == "error" and "status of 401" not in message.text:
            self.errors.append(message.text)

    async def goto(self) -> None:
        await self.page.goto(self.server.url + "/console/")

    async def login(self, email: str, password: str = PASSWORD) -> None:
        sign_in = self.page.get_by_role("button", name="Sign in")
        await expect(sign_in).to_be_enabled()  # the previous attempt has been answered
        await self.page.get_by_label("E-mail").fill(email)
        await self.page.get_by_label("Password").fill(password)
        await sign_in.click()

    async def open_inbox(self, email: str) -> None:
        await self.goto()
        await self.login(email)
        await expect(self.page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()

    def tab(self, name: str) -> Locator:
        return self.page.get_by_role("tab", name=re.compile(f"^{name}"))

    def row(self, text: str) -> Locator:
        return self.page.locator("#inbox-list a.row").filter(has_text=text)

    @property
    def thread(self) -> Locator:
        return self.page.get_by_role("log", name="Messages")

    @property
    def composer(self) -> Locator:
        return self.page.get_by_role("textbox", name="Reply")

    async def csp_violations(self) -> list[Any]:
        return list(await self.page.evaluate("() => window.__cspViolations"))


@pytest.fixture
async def consoles(browser: Browser, server: ServerProcess) -> AsyncIterator[list[Console]]:
    opened: list[Console] = []

    async def factory() -> Console:
        context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        console = Console(page, server)
        page.on("dialog", console._on_dialog)
        page.on("console", console._on_console)
        opened.append(console)
        return console

    for _ in range(2):
        await factory()
    yield opened
    for console in opened:
        await console.page.context.close()


@pytest.fixture
def accounts(server: ServerProcess) -> None:
    server.create_user(ANNA, PASSWORD)
    server.create_user(BRAM, PASSWORD)
    server.create_user(ADMIN, PASSWORD, role="admin")


class Api:
    """An admin's HTTP client, sending the CSRF header as the console does."""

    def __init__(self, server: ServerProcess, cookie: str, csrf: str):
        self.server, self.cookie, self.csrf = server, cookie, csrf

    @classmethod
    async def login(cls, server: ServerProcess, email: str) -> Api:
        return cls(server, *await login_full(server, email, PASSWORD))

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession(cookies={"chat_session": self.cookie}) as session:
            headers = {"X-CSRF-Token": self.csrf}
            async with session.request(method, self.server.url + path, json=body, headers=headers) as resp:
                assert resp.status < 300, await resp.text()
                return await resp.json()


async def visitor_says(
    server: ServerProcess, text: str, profile: dict[str, str] | None = None
) -> tuple[socketio.AsyncClient, Recorder, str]:
    client, recorder = await visitor_client(server)
    payload: dict[str, Any] = {"client_id": "v1", "text": text, "notice_version": "2026-test"}
    if profile:
        payload["profile"] = profile
    ack = await call(client, "/visitor", "message", payload)
    assert ack["ok"], ack
    return client, recorder, str(ack["conversation_id"])


def user_id(server: ServerProcess, email: str) -> str:
    user = server.db().users.find_one({"email": email})
    assert user is not None
    return str(user["_id"])


async def test_two_agents_see_a_new_conversation_and_the_claim_live(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    anna, bram = consoles
    await anna.open_inbox(ANNA)
    await bram.open_inbox(BRAM)
    await expect(anna.page.get_by_role("complementary").get_by_text("bram")).to_be_visible()  # online agents

    visitor, _, conversation_id = await visitor_says(server, "Do you ship to Belgium?", {"name": "Vera"})
    for console in (anna, bram):
        row = console.row("Vera")
        await expect(row).to_contain_text("Visitor: Do you ship to Belgium?")
        await expect(row).to_contain_text("1 unread")
        await expect(console.page).to_have_title(re.compile(r"^\(1\) Inbox"))

    await bram.row("Vera").click()
    await expect(bram.thread).to_contain_text("Do you ship to Belgium?")
    await expect(bram.page.get_by_text("Not assigned")).to_be_visible()
    await anna.row("Vera").click()
    await anna.page.get_by_role("button", name="Assign to me").click()
    await expect(anna.page.get_by_text("Assigned to you")).to_be_visible()
    await expect(bram.page.get_by_text("Assigned to anna")).to_be_visible()  # live, no reload

    # Bram pressed "Assign to me" a moment too late: the server names the winner.
    await bram.page.get_by_role("button", name="Assign to me").click()
    await expect(bram.page.get_by_role("alert")).to_have_text("anna claimed this conversation first.")
    await expect(anna.row("Vera")).to_be_hidden()  # no longer waiting
    await anna.tab("Mine").click()
    await expect(anna.row("Vera")).to_be_visible()

    # Each opening is accounted for in the audit log.
    opened = lambda: list(  # noqa: E731
        server.db().audit_events.find({"action": "conversation.opened", "target_id": conversation_id})
    )
    events = await eventually(lambda: len(opened()) == 2 and opened(), what="two audit events")
    assert {e["actor_id"] for e in events} == {user_id(server, ANNA), user_id(server, BRAM)}
    await visitor.disconnect()


async def test_replies_reach_the_visitor_and_both_agents(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    anna, bram = consoles
    admin = await Api.login(server, ADMIN)
    await admin.request("POST", "/api/canned", {"shortcut": "ship", "title": "Shipping", "text": "We ship in 2 days."})
    await anna.open_inbox(ANNA)
    await bram.open_inbox(BRAM)
    visitor, recorder, _ = await visitor_says(server, "Hello?")
    await anna.row("Hello?").click()
    await bram.row("Hello?").click()

    await call(visitor, "/visitor", "typing", {"typing": True})
    await expect(anna.page.get_by_text("The visitor is typing…")).to_be_visible()

    await anna.composer.press_sequentially("First line")
    await anna.composer.press("Shift+Enter")
    await anna.composer.press_sequentially("second line")
    await anna.composer.press("Enter")
    reply = await recorder.next("message")
    assert reply["message"]["text"] == "First line\nsecond line" and reply["message"]["sender"] == "agent"
    await expect(anna.composer).to_have_value("")
    await expect(bram.thread).to_contain_text("First line")  # the colleague sees it live

    # A canned response: "/" opens the list, Enter inserts, Enter sends.
    await anna.composer.press_sequentially("/sh")
    await expect(anna.page.get_by_role("option", name="/ship Shipping")).to_be_visible()
    await anna.composer.press("Enter")
    await expect(anna.composer).to_have_value("We ship in 2 days.")
    await anna.composer.press("Enter")
    assert (await recorder.next("message"))["message"]["text"] == "We ship in 2 days."

    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "Thanks!"})
    await expect(anna.thread).to_contain_text("Thanks!")
    await expect(bram.thread).to_contain_text("Thanks!")

    # Close with the keyboard shortcut; the visitor hears of it.
    await anna.thread.focus()
    await anna.page.keyboard.press("c")
    assert (await recorder.next("conversation_status"))["status"] == "closed"
    await expect(bram.page.get_by_role("button", name="Reopen")).to_be_visible()
    await visitor.disconnect()


class HeldOpen:
    """Sits in the console's Socket.IO WebSocket and holds the server's answer to `open` until
    released, so events can be made to arrive exactly while a conversation is being opened."""

    def __init__(self) -> None:
        self.upgraded = asyncio.Event()  # the socket runs over this WebSocket from now on
        self.held = asyncio.Event()
        self.forwarded: list[str] = []
        self._open_ids: set[str] = set()
        self._holding: list[str] = []
        self._page: WebSocketRoute | None = None

    async def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        self._page = ws

        def from_page(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if text == "5":  # engine.io "upgrade": polling is over
                self.upgraded.set()
            if found := re.match(r'42/agent,(\d+)\["open"', text):
                self._open_ids.add(found.group(1))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            found = re.match(r"43/agent,(\d+)", text)
            if found and found.group(1) in self._open_ids:
                self._holding.append(text)
                self.held.set()
                return
            self.forwarded.append(text)
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    def release(self) -> None:
        assert self._page is not None
        for message in self._holding:
            self._page.send(message)
        self._holding.clear()


async def test_typing_and_messages_while_a_conversation_opens_are_not_lost(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    """The visitor types and writes after the console asked to open the conversation and before
    the answer came: both show once the view is ready (no timing luck: the answer is held)."""
    anna = consoles[0]
    held = HeldOpen()
    await anna.page.route_web_socket(re.compile(r"/socket\.io/"), held.route)
    await anna.open_inbox(ANNA)
    await asyncio.wait_for(held.upgraded.wait(), 30)
    visitor, _, _ = await visitor_says(server, "Hello?")
    await anna.row("Hello?").click()
    await asyncio.wait_for(held.held.wait(), 30)  # the history is read; the answer waits

    await call(visitor, "/visitor", "message", {"client_id": "v2", "text": "Are you there?"})
    await call(visitor, "/visitor", "typing", {"typing": True})
    await eventually(lambda: any('["typing"' in m for m in held.forwarded), what="typing reaching the page")
    held.release()

    await expect(anna.thread).to_contain_text("Hello?")
    await expect(anna.thread).to_contain_text("Are you there?")
    await expect(anna.page.get_by_text("The visitor is typing…")).to_be_visible()
    await call(visitor, "/visitor", "typing", {"typing": False})
    await expect(anna.page.get_by_text("The visitor is typing…")).to_be_hidden()
    await visitor.disconnect()


async def test_visitor_markup_is_inert_in_the_inbox_and_the_thread(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    anna = consoles[0]
    await anna.open_inbox(ANNA)
    visitor, _, _ = await visitor_says(server, XSS, {"name": "<b>Mallory</b><script>window.__xss=3</script>"})
    row = anna.row("<b>Mallory</b>")
    await expect(row).to_contain_text(XSS)  # the literal text, in the preview
    await row.click()
    await expect(anna.thread).to_contain_text(XSS)
    await expect(anna.page.get_by_role("heading", name="<b>Mallory</b><script>window.__xss=3</script>")).to_be_visible()
    app = anna.page.locator("#app")
    assert await app.locator("img, script, b").count() == 0
    assert await anna.page.evaluate("() => window.__xss") is None
    assert anna.dialogs == []
    assert await anna.csp_violations() == []
    await visitor.disconnect()


async def test_a_disabled_agent_is_disconnected_and_cannot_log_in_again(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    anna, admin = consoles
    await anna.open_inbox(ANNA)
    await admin.open_inbox(ADMIN)
    await admin.page.get_by_role("link", name="Users").click()
    await admin.page.get_by_role("button", name=f"Disable: {ANNA}").click()
    await expect(admin.page.get_by_role("button", name=f"Enable: {ANNA}")).to_be_visible()

    await expect(anna.page.get_by_text("You were signed out.")).to_be_visible()
    await expect(anna.page.get_by_role("button", name="Sign in")).to_be_visible()
    await anna.login(ANNA)
    await expect(anna.page.get_by_text("E-mail or password is wrong.")).to_be_visible()


async def test_new_accounts_must_change_their_temporary_password(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    admin, newcomer = consoles
    await admin.open_inbox(ADMIN)
    await admin.page.get_by_role("link", name="Users").click()
    await admin.page.get_by_label("E-mail").fill("new@example.eu")
    await admin.page.get_by_label("Display name (optional)").fill("Nina")
    await admin.page.get_by_role("button", name="Create").click()
    secret = admin.page.get_by_role("status").filter(has_text="Temporary password for new@example.eu:")
    await expect(secret).to_be_visible()  # good news, announced politely, not as an error
    await expect(admin.page.get_by_role("alert")).to_have_count(0)
    assert await looks_like_an_error(secret) is False
    match = re.search(r": (\S+)\. It is shown only now", await secret.text_content() or "")
    assert match is not None
    temporary = match.group(1)

    await newcomer.goto()
    await newcomer.login("new@example.eu", temporary)
    await expect(newcomer.page.get_by_text("Choose a new password before you continue.")).to_be_visible()
    await newcomer.page.get_by_label("Current password").fill(temporary)
    await newcomer.page.get_by_label("New password (at least 12 characters)").fill("a brand new passphrase")
    await newcomer.page.get_by_label("Repeat the new password").fill("a brand new passphrase")
    await newcomer.page.get_by_role("button", name="Save").click()
    await expect(newcomer.page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    await expect(newcomer.page.get_by_role("complementary").get_by_text("Nina (you)")).to_be_visible()


@pytest.mark.allow_console_errors(r"status of 429 \(Too Many Requests\)")
async def test_wrong_and_unknown_logins_look_the_same_and_backoff_shows_the_wait(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    console = consoles[0]
    await console.goto()
    await console.login(ANNA, "wrong password 123")
    error = console.page.get_by_role("alert")
    await expect(error).to_have_text("E-mail or password is wrong.")
    await console.login("nobody@example.eu", "wrong password 123")
    await expect(error).to_have_text("E-mail or password is wrong.")
    for _ in range(PER_PAIR):  # the allowance per (account, address) pair, then 429
        await console.login(ANNA, "wrong password 123")
    await expect(error).to_have_text(re.compile(r"^Too many attempts\. Wait \d+ s and try again\.$"))


async def tab_to(page: Page, target: Locator, limit: int = 25) -> None:
    """Press Tab until `target` has focus (what a keyboard user does)."""
    for _ in range(limit):
        if await target.evaluate("(el) => el === document.activeElement"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{target} not reached with Tab")


async def test_keyboard_only_from_login_to_reply(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    console = consoles[0]
    page = console.page
    visitor, recorder, _ = await visitor_says(server, "Keyboard question")
    await console.goto()
    await expect(page.get_by_label("E-mail")).to_be_focused()
    await page.keyboard.type(ANNA)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()

    row = console.row("Keyboard question")
    await tab_to(page, row)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=2, name=re.compile("^Visitor [0-9a-f]{6}$"))).to_be_focused()
    await page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    await expect(help_dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
    await page.keyboard.press("a")  # assign to me
    await expect(page.get_by_text("Assigned to you")).to_be_visible()
    await tab_to(page, console.composer)
    await page.keyboard.type("Answered without a mouse")
    await page.keyboard.press("Enter")
    assert (await recorder.next("message"))["message"]["text"] == "Answered without a mouse"
    await visitor.disconnect()


async def test_headers_csp_accessibility_and_screenshot(
    consoles: list[Console], server: ServerProcess, accounts: None, output_dir: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/console/") as resp:
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert "<script>" not in await resp.text()  # only <script src>

    anna, bram = consoles
    visitors = []
    for text, profile in [
        ("Is the blue jacket available in size M?", {"name": "Sofie Janssens", "language": "nl-BE"}),
        ("My order #1042 has not arrived yet.", {"name": "Lukas Weber", "email": "lukas@example.eu"}),
        ("Can I pay by bank transfer?", None),
    ]:
        client, _, _ = await visitor_says(server, text, profile)
        visitors.append(client)
    await bram.open_inbox(BRAM)
    await anna.open_inbox(ANNA)
    await anna.tab("All open").click()
    await anna.row("Lukas Weber").click()
    await anna.composer.fill("Sorry to hear that! Let me check the tracking for you.")
    await anna.composer.press("Enter")
    await expect(anna.thread).to_contain_text("Let me check the tracking")
    await call(visitors[1], "/visitor", "message", {"client_id": "v2", "text": "Thank you, it is order 1042."})
    await expect(anna.thread).to_contain_text("Thank you, it is order 1042.")

    assert await serious_axe_violations(anna.page) == []
    await anna.page.screenshot(path=output_dir / "console-inbox.png")
    for page_name in ("Users", "Audit log", "Canned responses", "Privacy"):
        await anna.page.goto(server.url + "/console/")  # agents do not see admin pages
        await expect(anna.page.get_by_role("link", name=page_name)).to_have_count(0)
    # j/k walk the list; the row keeps the focus so the next key press walks on.
    rows = bram.page.locator("#inbox-list a.row")
    await expect(rows).to_have_count(3)
    for key, index in (("j", 0), ("j", 1), ("k", 0)):
        await bram.page.keyboard.press(key)
        await expect(rows.nth(index)).to_have_attribute("aria-current", "true")
        await expect(rows.nth(index)).to_be_focused()
    await bram.page.keyboard.press("?")
    assert await serious_axe_violations(bram.page) == []
    assert await anna.csp_violations() == [] and await bram.csp_violations() == []
    assert anna.errors == [] and bram.errors == []
    for client in visitors:
        await client.disconnect()


async def test_admin_pages_canned_and_audit(consoles: list[Console], server: ServerProcess, accounts: None) -> None:
    admin = consoles[0]
    page = admin.page
    await admin.open_inbox(ADMIN)
    await page.get_by_role("link", name="Canned responses").click()
    shortcut = page.get_by_label("Shortcut")
    await expect(shortcut).to_have_accessible_description(re.compile("lower-case letters, digits, _ and -"))
    for bad in ("Hello", "-x", "with space", "a/b"):
        await shortcut.fill(bad)
        assert not await shortcut.evaluate("(el) => el.checkValidity()"), bad  # the browser checks it
    await shortcut.fill("shipping-times_2")
    assert await shortcut.evaluate("(el) => el.checkValidity()")
    await shortcut.fill("Bad Shortcut")
    await page.get_by_label("Title").fill("Greeting")
    await page.get_by_label("Text").fill("Hello! How can I help?")
    await page.get_by_role("button", name="Add").click()  # stopped in the browser: nothing is sent
    assert await shortcut.evaluate("(el) => el.matches(':invalid')")
    assert server.db().canned.count_documents({}) == 0
    await shortcut.fill("hello")
    await page.get_by_label("Title").fill("Greeting")
    await page.get_by_label("Text").fill("Hello! How can I help?")
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("cell", name="Hello! How can I help?")).to_be_visible()
    await page.get_by_role("button", name="Edit: /hello").click()
    await page.get_by_label("Text").fill("Hi there! How can I help?")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("cell", name="Hi there! How can I help?")).to_be_visible()
    assert await serious_axe_violations(page) == []
    await page.get_by_role("button", name="Delete: /hello").click()
    await expect(page.get_by_role("cell", name="Hi there! How can I help?")).to_be_hidden()
    assert server.db().canned.count_documents({}) == 0

    await page.get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("cell", name="canned.deleted")).to_be_visible()
    await expect(page.get_by_role("cell", name="canned.saved")).to_have_count(2)
    await expect(page.get_by_role("cell", name=ADMIN).first).to_be_visible()
    assert await serious_axe_violations(page) == []
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("cell", name=BRAM, exact=True)).to_be_visible()
    assert await serious_axe_violations(page) == []

    # Dutch, chosen in the header.
    await page.get_by_label("Language").select_option("nl")
    await expect(page.get_by_role("link", name="Gebruikers")).to_be_visible()
    await page.get_by_role("link", name="Inbox").click()
    await expect(page.get_by_role("tab", name=re.compile("^Wachtend"))).to_be_visible()
    assert await admin.csp_violations() == []


async def downloaded_text(download: Download) -> str:
    return await asyncio.to_thread(Path(await download.path()).read_text)


async def test_admin_finds_exports_and_erases_a_visitor_and_downloads_a_breach_report(
    consoles: list[Console], server: ServerProcess, accounts: None
) -> None:
    anna, _, anna_id = await visitor_says(
        server, "Mijn IBAN is NL02ABNA0123456789", {"name": "Anna Canary", "email": "anna.privacy@example.nl"}
    )
    bob, _, bob_id = await visitor_says(server, "Bob zijn geheim", {"name": "Bob Other", "email": "bob@elders.nl"})
    admin = consoles[0]
    page = admin.page
    await admin.open_inbox(ADMIN)
    await page.get_by_role("link", name="Privacy").click()
    await page.get_by_label("E-mail address or conversation id").fill("Anna.Privacy@example.nl")
    await page.get_by_role("button", name="Search").click()
    found = page.get_by_role("status")
    await expect(found).to_have_text("1 conversation(s) found.")
    assert await looks_like_an_error(found) is False
    await expect(page.get_by_role("cell", name=anna_id)).to_be_visible()
    await expect(page.get_by_role("cell", name=bob_id)).to_have_count(0)
    assert await serious_axe_violations(page) == []

    async with page.expect_download() as exported:
        await page.get_by_role("button", name="Export (JSON)").click()
    download = await exported.value
    assert re.fullmatch(r"export-q[0-9a-f]{16}\.json", download.suggested_filename)
    text = await downloaded_text(download)
    assert "Anna Canary" in text and "NL02ABNA0123456789" in text and anna_id in text
    assert "Bob" not in text and bob_id not in text

    await page.get_by_role("button", name="Erase…").click()
    dialog = page.get_by_role("dialog", name="Erase permanently?")
    await expect(dialog).to_contain_text(anna_id)
    await expect(dialog).to_contain_text("1 conversation(s) with 1 message(s)")
    assert await serious_axe_violations(page) == []
    await dialog.get_by_role("button", name="Erase permanently").click()
    await expect(page.get_by_role("status")).to_have_text("1 conversation(s) erased.")
    await expect(page.get_by_role("cell", name=anna_id)).to_have_count(0)
    db = server.db()
    assert (
        db.conversations.count_documents({"_id": anna_id}) == 0 and db.data_keys.count_documents({"_id": anna_id}) == 0
    )
    assert db.audit_events.count_documents({"action": "privacy.erased", "target_id": anna_id}) == 1

    # Gone from the inbox too; Bob's conversation stays.
    await page.get_by_role("link", name="Inbox").click()
    await admin.tab("All open").click()
    await expect(admin.row("Bob Other")).to_be_visible()
    await expect(admin.row("Anna Canary")).to_have_count(0)

    await page.get_by_role("link", name="Privacy").click()
    now = datetime.now()  # datetime-local is the browser's local time, which is this machine's
    await page.get_by_label("From").fill((now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_label("To").fill((now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    async with page.expect_download() as reported:
        await page.get_by_role("button", name="Download report").click()
    report = json.loads(await downloaded_text(await reported.value))
    rows = {row["conversation_id"]: row for row in report["conversations"]}
    assert rows[bob_id]["exists"] and not rows[anna_id]["exists"]
    assert await admin.csp_violations() == []
    assert admin.errors == []
    for client in (anna, bob):
        await client.disconnect()


async def looks_like_an_error(locator: Locator) -> bool:
    """Whether text is painted in the colour the console gives its error messages."""
    return bool(
        await locator.evaluate(
            """(el) => {
              const probe = document.createElement("p");
              probe.className = "error";
              probe.textContent = "x";
              document.body.append(probe);
              const error = getComputedStyle(probe).color;
              probe.remove();
              return getComputedStyle(el).color === error;
            }"""
        )
    )
