"""The console tells the agent, live, when the visitor ends the chat with "forget this device"."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.test_console import ANNA, Console, accounts, consoles, visitor_says  # noqa: F401
from tests.helpers import ServerProcess, call

pytestmark = pytest.mark.timeout(120)


async def test_the_open_thread_says_the_visitor_left_and_closes(
    consoles: list[Console],  # noqa: F811
    server: ServerProcess,
    accounts: None,  # noqa: F811
) -> None:
    anna = consoles[0]
    await anna.open_inbox(ANNA)
    visitor, _, conversation_id = await visitor_says(server, "Please forget me when I leave")
    await anna.row("Please forget me when I leave").click()
    await anna.page.get_by_role("button", name="Assign to me").click()
    await expect(anna.page.get_by_text("Assigned to you")).to_be_visible()

    assert (await call(visitor, "/visitor", "forget", {}))["ok"]
    left = "The visitor ended the chat and asked to be forgotten on their device. The conversation is closed."
    await expect(anna.page.get_by_role("status").filter(has_text=left)).to_have_text(left)
    await expect(anna.composer).to_be_disabled()
    stored = server.db().conversations.find_one({"_id": conversation_id})
    assert stored is not None and stored["status"] == "closed"
    assert anna.errors == [] and await anna.csp_violations() == []
    await visitor.disconnect()
