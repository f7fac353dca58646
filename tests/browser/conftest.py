"""Debian's chromium driven by Playwright, a host website on its own origin under a strict CSP,
and a chat server whose site configuration lets that origin embed the widget. Every page any test
opens is watched: a console error or an uncaught exception fails the test."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, WebError, async_playwright

from tests.browser.host import HostSite, start_host_site
from tests.browser.visit import Visit
from tests.conftest import AGENT_EMAIL, AGENT_PASSWORD
from tests.helpers import REPO, SecantusProcess, ServerProcess, free_port

CHROMIUM = Path(os.environ.get("CHAT_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SITE_ID = "shop"
NOTICE_VERSION = "2026-test"
OUTPUT = REPO / "test-output"


@pytest.fixture
def host_port() -> int:
    return free_port()


@pytest.fixture
def host_origin(host_port: int) -> str:
    # `localhost` for the site and 127.0.0.1 for the chat server: different hosts, so not even
    # a cookie could be shared between them by accident.
    return f"http://localhost:{host_port}"


@pytest.fixture
def sites_file(tmp_path: Path, host_origin: str) -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        f"""
[sites.{SITE_ID}]
origins = ["{host_origin}"]
notice_version = "{NOTICE_VERSION}"
[sites.{SITE_ID}.notice.en]
text = "Test notice: we keep your messages to answer you."
link = "{host_origin}/privacy"
"""
    )
    return path


@pytest.fixture
def chat(secantus: SecantusProcess, tmp_path: Path, host_origin: str, sites_file: Path) -> Iterator[ServerProcess]:
    env = {"CHAT_SITES_FILE": str(sites_file)}  # the site's origins alone admit it
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=env).start()
    yield proc
    proc.stop()


@pytest.fixture
def agent_account(chat: ServerProcess) -> tuple[str, str]:
    chat.create_user(AGENT_EMAIL, AGENT_PASSWORD)
    return AGENT_EMAIL, AGENT_PASSWORD


@pytest.fixture
async def host(host_port: int, chat: ServerProcess) -> AsyncIterator[HostSite]:
    runner, site = await start_host_site(host_port, chat.url, SITE_ID)
    yield site
    await runner.cleanup()


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install (it installs Debian's chromium when root)")
    return CHROMIUM


# The console asks GET /api/session whether someone is signed in; 401 is its "nobody" answer,
# which Chromium logs as a failed load. Nothing else is excused unless a test says so.
EXPECTED_EVERYWHERE = (re.compile(r"status of 401 \(Unauthorized\)"), re.compile(r"/api/session$"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_console_errors(*patterns): console errors a browser test provokes on purpose "
        "(regular expressions searched in 'TEXT (at URL)')",
    )


class PageErrors:
    """Console errors and uncaught exceptions of every page in every context a test opens."""

    def __init__(self, allowed: list[re.Pattern[str]]):
        self.allowed = allowed
        self.seen: list[str] = []

    def watch(self, context: BrowserContext) -> None:
        context.on("console", self._on_console)
        context.on("weberror", self._on_page_error)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        text_pattern, url_pattern = EXPECTED_EVERYWHERE
        if text_pattern.search(message.text) and url_pattern.search(url):
            return
        seen = f"{message.text} (at {url})"
        if any(pattern.search(seen) for pattern in self.allowed):
            return
        self.seen.append(f"console error: {seen}")

    def _on_page_error(self, error: WebError) -> None:
        self.seen.append(f"page error: {error.error} (at {error.page.url if error.page else '?'})")


@pytest.fixture
def page_errors(request: pytest.FixtureRequest) -> Iterator[PageErrors]:
    allowed = [re.compile(p) for marker in request.node.iter_markers("allow_console_errors") for p in marker.args]
    errors = PageErrors(allowed)
    yield errors
    if errors.seen:
        pytest.fail("the browser reported errors:\n  " + "\n  ".join(errors.seen), pytrace=False)


@pytest.fixture
async def browser(chromium: Path, page_errors: PageErrors) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        new_context = launched.new_context

        async def watched_context(*args: Any, **kwargs: Any) -> BrowserContext:
            context = await new_context(*args, **kwargs)
            page_errors.watch(context)
            return context

        launched.new_context = watched_context  # type: ignore[method-assign]
        yield launched
        await launched.close()


@pytest.fixture
async def visit(browser: Browser, host: HostSite, chat: ServerProcess) -> AsyncIterator[Visit]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = await Visit.open(context, host, chat)
    yield page
    await context.close()


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
