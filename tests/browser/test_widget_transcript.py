"""A visitor asks for a transcript in the widget: an explicit click, their own address, and the
e-mail arrives at a real SMTP server (aiosmtpd with STARTTLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Dialog, expect

from tests.browser.visit import Visit
from tests.helpers import SecantusProcess, ServerProcess, agent_client, login
from tests.test_email import PASSWORD, USER, Smtp, certificate, smtp  # noqa: F401 (fixtures)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)
ADDRESS = "visitor.transcript@example.eu"


@pytest.fixture
def chat(
    secantus: SecantusProcess,
    tmp_path: Path,
    sites_file: Path,
    smtp: Smtp,  # noqa: F811
    certificate: tuple[Path, Path],  # noqa: F811
) -> Iterator[ServerProcess]:
    """The browser tests' chat server, with e-mail going to the test's SMTP server."""
    password_file = tmp_path / "smtp.password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    env = {
        "CHAT_SITES_FILE": str(sites_file),
        "CHAT_SMTP_HOST": "127.0.0.1",
        "CHAT_SMTP_PORT": str(smtp.port),
        "CHAT_SMTP_FROM": "chat@example.eu",
        "CHAT_SMTP_USER": USER,
        "CHAT_SMTP_PASSWORD_FILE": str(password_file),
        "CHAT_SMTP_CA_FILE": str(certificate[0]),
        "CHAT_OUTBOX_POLL_MS": "100",
    }
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=env).start()
    yield proc
    proc.stop()


async def test_the_visitor_asks_for_a_transcript_by_email(
    visit: Visit,
    chat: ServerProcess,
    agent_account: tuple[str, str],
    smtp: Smtp,  # noqa: F811
) -> None:
    agent, _ = await agent_client(chat, await login(chat, *agent_account))  # online: the chat, not the form
    await visit.load()
    await visit.open_widget()
    button = visit.page.get_by_role("button", name="E-mail me a transcript")
    await expect(button).to_be_hidden()  # nothing to send before the first message
    await visit.send("Where is my order 4711?")
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()

    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept(ADDRESS)

    visit.page.once("dialog", answer)
    await button.click()
    await expect(visit.page.get_by_text("The transcript is on its way to your e-mail.")).to_be_visible()
    assert asked == ["E-mail (required)"]
    messages = await eventually(
        lambda: [m for m, _, _ in smtp.mailbox.received if m["To"] == ADDRESS] or None, what="the transcript"
    )
    plain = messages[0].get_body(("plain",))
    assert plain is not None and "Where is my order 4711?" in plain.get_content()
    assert await visit.csp_violations() == []
    await agent.disconnect()
