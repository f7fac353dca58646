"""The widget against the server's abuse limits: it waits as long as the server says, then sends
the same message (same client_id) again, and tells the visitor politely in the meantime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.visit import Visit
from tests.helpers import SecantusProcess, ServerProcess, agent_client, login, visitor_client

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chat(secantus: SecantusProcess, tmp_path: Path, sites_file: Path) -> Iterator[ServerProcess]:
    """One visitor connection per address, so a second one from this machine is refused."""
    env = {"CHAT_SITES_FILE": str(sites_file), "CHAT_LIMIT_CONNECTIONS_PER_ADDRESS": "1"}
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=env).start()
    yield proc
    proc.stop()


async def test_a_refused_connection_waits_as_told_then_sends_the_same_message(
    visit: Visit,
    chat: ServerProcess,
    agent_account: tuple[str, str],
) -> None:
    agent, _ = await agent_client(chat, await login(chat, *agent_account))  # online: the live chat
    holder, _ = await visitor_client(chat)  # takes this address's only visitor connection
    await visit.load()
    await visit.open_widget()
    await visit.send("Sent while the network is busy")
    pending = visit.page.locator("[data-chat-service] .g").filter(has_text="Sent while the network is busy")
    notice = visit.page.get_by_text("We are a little busy: your message will be sent in 10 seconds.")
    await expect(notice).to_be_visible()
    await expect(pending.get_by_text("Sending…")).to_be_visible()
    assert chat.db().messages.count_documents({}) == 0

    await holder.disconnect()  # the slot is free again; the widget tries once the wait is over
    await expect(pending.get_by_text("Delivered")).to_be_visible(timeout=30_000)
    await expect(notice).to_be_hidden()
    assert [m["text_length"] for m in chat.db().messages.find({})] == [len("Sent while the network is busy")]
    await agent.disconnect()
