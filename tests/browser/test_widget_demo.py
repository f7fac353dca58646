"""The dev demo page at `/`: a small bakery's website in English and Dutch with the widget on it
(one script tag), under a strict CSP, nothing third-party, accessible, screenshotted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.axe import serious_axe_violations
from tests.browser.visit import RECORD_CSP_VIOLATIONS
from tests.helpers import SecantusProcess, ServerProcess

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def dev_server(secantus: SecantusProcess, tmp_path: Path) -> Iterator[ServerProcess]:
    """Dev mode without a sites file: the built-in demo site."""
    proc = ServerProcess(secantus.uri, tmp_path / "server").start()
    yield proc
    proc.stop()


@pytest.fixture
async def demo(browser: Browser, dev_server: ServerProcess) -> AsyncIterator[tuple[Page, list[str]]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    yield page, requests
    await context.close()


async def test_the_demo_page_is_a_bakery_in_english_and_dutch_with_the_widget(
    demo: tuple[Page, list[str]], dev_server: ServerProcess, output_dir: Path
) -> None:
    page, requests = demo
    await page.goto(dev_server.url + "/")
    assert await page.get_attribute("html", "lang") == "en"
    await expect(page.get_by_role("heading", level=1)).to_have_text("Bread baked at dawn, on the Oudegracht")
    await expect(page.get_by_role("link", name="agent console")).to_have_attribute("href", "/console/")
    launcher = page.get_by_role("button", name="Questions?")
    await expect(launcher).to_be_visible()
    assert await page.locator("script[src]").evaluate_all("(s) => s.map((e) => e.getAttribute('src'))") == [
        "/widget.js"
    ]
    assert await serious_axe_violations(page) == []
    folder = output_dir / "widget"
    folder.mkdir(exist_ok=True)
    await page.screenshot(path=folder / "demo-en.png", full_page=True)

    await launcher.click()
    dialog = page.get_by_role("dialog", name="Bakkerij De Korenbloem")
    await expect(dialog.get_by_text("Questions about an order, allergens")).to_be_visible()
    assert await serious_axe_violations(page) == []

    # The language switch: the page and the widget in Dutch.
    await page.get_by_role("navigation", name="Language").get_by_role("link", name="Nederlands").click()
    await expect(page).to_have_url(dev_server.url + "/?lang=nl")
    assert await page.get_attribute("html", "lang") == "nl"
    await expect(page.get_by_role("heading", level=1)).to_have_text("Brood van vanochtend vroeg, aan de Oudegracht")
    await expect(page.get_by_role("link", name="Nederlands")).to_have_attribute("aria-current", "true")
    await page.get_by_role("button", name="Vragen?").click()
    dialog = page.get_by_role("dialog", name="Bakkerij De Korenbloem")
    await expect(dialog.get_by_text("Vragen over een bestelling, allergenen")).to_be_visible()
    await expect(dialog.get_by_role("button", name="Chat sluiten")).to_be_visible()
    assert await serious_axe_violations(page) == []
    await page.screenshot(path=folder / "demo-nl-widget.png")

    await page.set_viewport_size({"width": 375, "height": 740})
    await page.get_by_role("button", name="Chat sluiten").click()
    assert await serious_axe_violations(page) == []
    await page.screenshot(path=folder / "demo-nl-375.png", full_page=True)

    assert [url for url in requests if not url.startswith(dev_server.url + "/")] == []  # nothing third-party
    assert await page.evaluate("() => window.__cspViolations") == []
