"""The console's webhooks page in a real browser: add an endpoint, see its secret once, send a test
event to a real receiver, read the deliveries log, redeliver. Any console or page error fails."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, expect
from standardwebhooks.webhooks import Webhook

from tests.browser.test_console import serious_axe_violations
from tests.browser.visit import RECORD_CSP_VIOLATIONS
from tests.helpers import ServerProcess
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)
ADMIN, PASSWORD = "admin@example.eu", "correct horse battery staple"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[list[tuple[dict[str, str], bytes]], str]]:
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield received, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


async def test_admin_adds_an_endpoint_tests_it_and_redelivers(
    browser: Browser, server: ServerProcess, receiver: tuple[list[tuple[dict[str, str], bytes]], str]
) -> None:
    received, url = receiver
    server.create_user(ADMIN, PASSWORD, role="admin")
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "status of 401" not in message.text:  # "not signed in yet"
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(server.url + "/console/")
        await page.get_by_label("E-mail").fill(ADMIN)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
        await expect(page.get_by_text("No endpoints yet.")).to_be_visible()

        await page.get_by_label("URL", exact=True).fill(url)
        await page.get_by_label("Hosting region").fill("eu-central-1")
        await page.get_by_label("message.created").check()
        await page.get_by_role("button", name="Add endpoint").click()
        secret_el = page.locator("code.secret")
        await expect(secret_el).to_have_text(re.compile(r"^whsec_"))
        secret = await secret_el.inner_text()
        await expect(page.get_by_role("cell", name=f"{url} eu-central-1", exact=True)).to_be_visible()
        assert await serious_axe_violations(page) == []

        await page.get_by_role("button", name=f"Send test event to {url}").click()
        await expect(page.get_by_text("Queued.")).to_be_visible()
        await eventually(lambda: received, what="the test event")
        headers, body = received[0]
        payload: dict[str, Any] = Webhook(secret).verify(body, headers)
        assert payload["type"] == "webhook.test"

        await page.get_by_role("button", name=f"Deliveries to {url}").click()
        log = page.get_by_role("heading", name=f"Deliveries to {url}", level=2)
        await expect(log).to_be_visible()
        await expect(page.get_by_role("cell", name="204")).to_be_visible()
        await page.get_by_role("button", name=f"Redeliver {headers['webhook-id']}").click()
        await eventually(lambda: len(received) == 2, what="the redelivery")
        assert [h["webhook-id"] for h, _ in received] == [headers["webhook-id"]] * 2

        # A reload shows the endpoint but never its secret again.
        await page.reload()
        await page.get_by_role("link", name="Webhooks").click()
        await expect(page.get_by_role("cell", name=f"{url} eu-central-1", exact=True)).to_be_visible()
        assert secret not in await page.content()
        await page.get_by_label("Language", exact=True).select_option("nl")
        await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
        await expect(page.get_by_role("button", name="Endpoint toevoegen")).to_be_visible()
        assert await page.evaluate("() => window.__cspViolations") == []
        assert errors == []
    finally:
        await context.close()
