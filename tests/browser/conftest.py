"""Debian's chromium driven by Playwright, a host website on its own origin under a strict CSP,
and a chat server whose site configuration lets that origin embed the widget."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

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


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
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
