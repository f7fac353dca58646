"""The console's sign-in security in a real browser: setting up TOTP, the code step at sign-in,
the sessions list and "sign out everywhere". Any console or page error fails the test."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
from playwright.async_api import Browser, ConsoleMessage, expect

from tests.helpers import ServerProcess

pytestmark = pytest.mark.timeout(120)

PASSWORD = "correct horse battery staple"
EMAIL = "secure@example.eu"


@pytest.mark.allow_console_errors(  # the replayed code is refused on purpose
    r"status of 401 \(Unauthorized\) \(at http://127\.0\.0\.1:\d+/api/session/second-factor\)"
)
async def test_agent_sets_up_two_factor_signs_in_with_a_code_and_signs_out_everywhere(
    browser: Browser, server: ServerProcess
) -> None:
    server.create_user(EMAIL, PASSWORD)
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # 401s are how the page learns it is signed out, and how a wrong code is answered.
        if message.type == "error" and "status of 401" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    async def sign_in() -> None:
        await page.get_by_label("E-mail").fill(EMAIL)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()

    await page.goto(server.url + "/console/")
    await sign_in()
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()

    await page.goto(server.url + "/console/#account")
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = (await page.locator(".totp-secret").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), secret
    assert (await page.locator(".totp-uri").get_attribute("href") or "").startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    used = totp.now()
    await page.get_by_label(re.compile("^Code from your authenticator")).fill(used)
    await page.get_by_role("button", name="Verify").click()
    await expect(page.locator(".recovery-codes li")).to_have_count(10)
    await page.get_by_role("button", name="Done").click()
    await expect(page.get_by_text("Two-factor sign-in is on.")).to_be_visible()
    sessions = page.locator("ul.sessions li")
    await expect(sessions).to_have_count(1)
    await expect(sessions.first).to_contain_text("This session")
    await expect(sessions.first).to_contain_text("Chrome on Linux")

    await page.get_by_role("button", name="Log out").click()
    await sign_in()
    code_box = page.get_by_label(re.compile("^Code from your authenticator"))
    # The code that turned the factor on is spent: replayed, it is refused.
    await code_box.fill(used)
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_have_text("That code is not valid. Try the next one.")
    await code_box.fill(totp.generate_otp(totp.timecode(datetime.now(UTC)) + 1))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()  # back where it was
    await page.get_by_role("button", name="Sign out everywhere").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("You were signed out.")).to_be_visible()
    assert server.db().sessions.count_documents({}) == 0
    assert errors == []
    await context.close()
