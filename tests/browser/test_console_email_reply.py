"""An agent answers an offline message by e-mail from the console: the answer shows in the thread
and reaches the visitor's address at a real SMTP server (aiosmtpd with STARTTLS)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.test_console import ANNA, Console, consoles  # noqa: F401 (fixture)
from tests.helpers import SecantusProcess, ServerProcess, call, visitor_client
from tests.test_email import PASSWORD, USER, Smtp, certificate, smtp  # noqa: F401 (fixtures)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)
VISITOR = "piet.offline@example.nl"


@pytest.fixture
def server(
    secantus: SecantusProcess,
    tmp_path: Path,
    smtp: Smtp,  # noqa: F811
    certificate: tuple[Path, Path],  # noqa: F811
) -> Iterator[ServerProcess]:
    password_file = tmp_path / "smtp.password"
    password_file.write_text(PASSWORD)
    password_file.chmod(0o600)
    env = {
        "CHAT_SMTP_HOST": "127.0.0.1",
        "CHAT_SMTP_PORT": str(smtp.port),
        "CHAT_SMTP_FROM": "chat@example.eu",
        "CHAT_SMTP_USER": USER,
        "CHAT_SMTP_PASSWORD_FILE": str(password_file),
        "CHAT_SMTP_CA_FILE": str(certificate[0]),
        "CHAT_OUTBOX_POLL_MS": "100",
    }
    proc = ServerProcess(secantus.uri, tmp_path / "server", env_extra=env).start()
    proc.create_user(ANNA, "correct horse battery staple")
    yield proc
    proc.stop()


async def test_an_agent_answers_an_offline_message_by_email_from_the_console(
    consoles: list[Console],  # noqa: F811
    server: ServerProcess,
    smtp: Smtp,  # noqa: F811
) -> None:
    visitor, _ = await visitor_client(server)
    first = {
        "client_id": uuid.uuid4().hex,
        "text": "Please mail me the invoice",
        "offline": True,
        "profile": {"name": "Piet", "email": VISITOR},
    }
    assert (await call(visitor, "/visitor", "message", first))["ok"]
    await visitor.disconnect()

    console = consoles[0]
    await console.open_inbox(ANNA)
    await console.row("Piet").click()
    await expect(console.thread.get_by_text("Please mail me the invoice")).to_be_visible()
    await console.composer.fill("The invoice is on its way.")
    await console.page.get_by_role("button", name="Send by e-mail").click()
    await expect(console.page.get_by_text(f"Sent by e-mail to {VISITOR}.")).to_be_visible()
    await expect(console.thread.get_by_text("The invoice is on its way.")).to_be_visible()
    await expect(console.composer).to_have_value("")

    mails = await eventually(
        lambda: [m for m, _, _ in smtp.mailbox.received if m["To"] == VISITOR] or None, what="the e-mail answer"
    )
    plain = mails[0].get_body(("plain",))
    assert plain is not None and "The invoice is on its way." in plain.get_content()
    assert console.errors == [] and await console.csp_violations() == []
