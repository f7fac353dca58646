"""Files in a real browser: the visitor attaches a photo from the widget on a host page with a strict
CSP, the agent sees its thumbnail and downloads it; the agent attaches a PDF, the visitor downloads it."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect
from pypdf import PdfWriter

from tests.browser.visit import RECORD_CSP_VIOLATIONS, Visit
from tests.helpers import ServerProcess
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(120)

CANARY = "CANARY-Visser-5521"


def photo() -> bytes:
    exif = Image.Exif()
    exif[0x0110] = CANARY
    exif[0x8825] = {1: "N", 2: (52.0, 5.0, 7.0), 3: "E", 4: (4.0, 29.0, 9.0)}
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (180, 40, 40)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def terms() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=300, height=400)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def sign_in(browser: Browser, chat: ServerProcess, account: tuple[str, str]) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await page.goto(chat.url + "/console/")
    await page.get_by_label("E-mail").fill(account[0])
    await page.get_by_label("Password").fill(account[1])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Inbox", level=1)).to_be_visible()
    return page


async def test_visitor_and_agent_exchange_a_photo_and_a_pdf(
    visit: Visit, chat: ServerProcess, browser: Browser, agent_account: tuple[str, str]
) -> None:
    agent = await sign_in(browser, chat, agent_account)
    await visit.load()
    await visit.open_widget()
    attach = visit.page.get_by_label("Attach file")  # the file input the "+" button labels
    await expect(attach).to_be_hidden()  # before contact there is no conversation to attach to
    await visit.send("Here is a photo of the damage")
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()

    await expect(attach).to_be_attached()
    async with visit.page.expect_file_chooser() as chosen:
        await visit.page.locator("[data-chat-service] label.k").click()
    await (await chosen.value).set_files({"name": "damage.jpg", "mimeType": "image/jpeg", "buffer": photo()})
    await expect(visit.page.get_by_role("link", name="damage.jpg")).to_be_visible()

    # The agent sees the photo itself, fetched with the session, and saves it under its name.
    await agent.locator("#inbox-list a.row").first.click()
    thumbnail = agent.locator(".msg .file img.thumb")
    await expect(thumbnail).to_be_visible()
    assert await thumbnail.evaluate("(img) => img.naturalWidth") == 120
    async with agent.expect_download() as saving:
        await agent.get_by_role("link", name=re.compile(r"^damage\.jpg")).click()
    saved = await saving.value
    assert saved.suggested_filename == "damage.jpg"
    data = await asyncio.to_thread(Path(str(await saved.path())).read_bytes)
    assert data.startswith(b"\xff\xd8") and CANARY.encode() not in data
    assert not Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # no GPS position
    downloads = lambda: chat.db().audit_events.count_documents({"action": "attachment.downloaded"})  # noqa: E731
    await eventually(lambda: downloads() >= 1, what="the agent's download in the audit log")

    # The agent attaches a PDF; the visitor's widget shows it live and downloads it with the token.
    async with agent.expect_file_chooser() as chosen:
        await agent.get_by_role("button", name="Attach file").click()
    document = terms()
    await (await chosen.value).set_files({"name": "terms.pdf", "mimeType": "application/pdf", "buffer": document})
    await expect(agent.get_by_role("link", name=re.compile(r"^terms\.pdf"))).to_be_visible()
    link = visit.page.get_by_role("link", name="terms.pdf")
    await expect(link).to_be_visible()
    async with visit.page.expect_download() as saving:
        await link.click()
    saved = await saving.value
    assert saved.suggested_filename == "terms.pdf"
    assert await asyncio.to_thread(Path(str(await saved.path())).read_bytes) == document

    assert await visit.csp_violations() == []
    assert await agent.evaluate("() => window.__cspViolations") == []
    assert visit.third_party_requests() == []
    await agent.context.close()
