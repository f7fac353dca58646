"""The widget as a branded product, in a real browser on a host page with a strict CSP: the site's
team name, logo, greeting and theme (before contact: nothing stored, no connection), the reply-time
hint, agents' first names and initials (or none, if the site hides them), "seen" receipts, dark
mode, axe in English and Dutch, and screenshots (desktop, 375 px, dark) in test-output/widget/."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import socketio
from PIL import Image
from playwright.async_api import Browser, Locator, expect

from tests.browser.axe import serious_axe_violations
from tests.browser.conftest import NOTICE_VERSION, SITE_ID
from tests.browser.host import HostSite
from tests.browser.visit import Visit
from tests.conftest import AGENT_PASSWORD
from tests.helpers import Recorder, ServerProcess, agent_client, call, login
from tests.test_widget_look import answered_after

pytestmark = pytest.mark.timeout(120)

TEAM = "Bakkerij De Korenbloem"
BRAND = "#9a3412"
ANNA = "anna@example.eu"


def logo_png() -> bytes:
    image = Image.new("RGB", (96, 96), "#fdf6ec")
    image.paste((30, 64, 175), (24, 24, 72, 72))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def sites_file(tmp_path: Path, host_origin: str, request: pytest.FixtureRequest) -> Path:
    """The host site, branded; `@pytest.mark.parametrize("sites_file", ["names hidden"], indirect=True)`
    hides agents' names."""
    hidden = getattr(request, "param", "") == "names hidden"
    (tmp_path / "logo.png").write_bytes(logo_png())
    path = tmp_path / "sites.toml"
    path.write_text(
        f"""
[sites.{SITE_ID}]
origins = ["{host_origin}"]
notice_version = "{NOTICE_VERSION}"
team_name = "{TEAM}"
logo = "logo.png"
show_agent_names = {"false" if hidden else "true"}
greeting.en = "Hello! Questions about an order? Ask us."
greeting.nl = "Hallo! Vragen over een bestelling? Stel ze hier."
[sites.{SITE_ID}.theme]
color = "{BRAND}"
position = "left"
launcher = {{ en = "Questions?", nl = "Vragen?" }}
"""
    )
    return path


@pytest.fixture
async def anna(chat: ServerProcess) -> AsyncIterator[tuple[socketio.AsyncClient, Recorder]]:
    """An online agent whose display name is "Anna de Vries"."""
    result = chat.run_cli(
        "users", "create", ANNA, "--role", "agent", "--name", "Anna de Vries", "--password-stdin",
        stdin=AGENT_PASSWORD + "\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    client, recorder = await agent_client(chat, await login(chat, ANNA, AGENT_PASSWORD))
    yield client, recorder
    await client.disconnect()


def launcher(visit: Visit, name: str = "Questions?") -> Locator:
    return visit.page.get_by_role("button", name=name)


def panel(visit: Visit) -> Locator:
    return visit.page.get_by_role("dialog", name=TEAM)


async def open_panel(visit: Visit, lang: str = "en") -> None:
    await visit.page.goto(visit.host.url(lang))
    await launcher(visit, "Vragen?" if lang == "nl" else "Questions?").click()
    await panel(visit).wait_for()


async def start(visit: Visit, recorder: Recorder, text: str) -> str:
    await open_panel(visit)
    await visit.send(text)
    created = await recorder.next("conversation_created")
    await expect(visit.page.get_by_text("Delivered")).to_be_visible()
    return str(created["conversation"]["id"])


async def reply(agent: socketio.AsyncClient, conversation_id: str, text: str, client_id: str) -> None:
    ack = await call(
        agent, "/agent", "reply", {"conversation_id": conversation_id, "client_id": client_id, "text": text}
    )
    assert ack["ok"], ack


async def test_header_logo_greeting_and_theme_arrive_before_contact_with_nothing_stored(
    visit: Visit, chat: ServerProcess
) -> None:
    await visit.page.goto(visit.host.url("en"))
    button = launcher(visit)
    await expect(button).to_be_visible()
    await expect(button).to_have_text("Questions?")
    assert visit.chat_paths() == ["/widget.js", "/api/widget/site"]
    # Themed from the sites file: the brand colour, white text on it (WCAG), bottom left.
    style = await button.evaluate("(b) => { const s = getComputedStyle(b); return [s.backgroundColor, s.color]; }")
    assert style == ["rgb(154, 52, 18)", "rgb(255, 255, 255)"]
    box = await button.bounding_box()
    assert box is not None and box["x"] < 100

    await button.click()
    dialog = panel(visit)
    await expect(dialog).to_be_visible()
    await expect(dialog.get_by_role("heading", name=TEAM)).to_be_visible()
    await expect(dialog.get_by_text("Hello! Questions about an order? Ask us.")).to_be_visible()
    logo = visit.page.locator("[data-chat-service] header img")
    assert (await logo.get_attribute("src") or "").startswith(f"{chat.url}/widget/logo/{SITE_ID}/")  # ours
    assert await logo.evaluate("(img) => img.complete && img.naturalWidth") == 96
    assert await logo.get_attribute("alt") == ""  # decorative: the team name is the heading
    # The panel sits on the same side as the launcher.
    panel_box = await dialog.bounding_box()
    assert panel_box is not None and panel_box["x"] < 100

    assert visit.websockets == []
    assert visit.set_cookies == []
    assert visit.third_party_requests() == []
    assert await visit.storage() == {"local": [], "session": [], "indexedDB": [], "cookies": []}
    assert {n: chat.db()[n].count_documents({}) for n in ("conversations", "messages")} == {
        "conversations": 0,
        "messages": 0,
    }
    assert await visit.csp_violations() == []


async def test_dutch_greeting_launcher_and_reply_time(
    visit: Visit, chat: ServerProcess, anna: tuple[socketio.AsyncClient, Recorder]
) -> None:
    answered_after(chat, SITE_ID, [timedelta(minutes=2), timedelta(minutes=3), timedelta(minutes=4)], "9")
    await open_panel(visit, "nl")
    dialog = panel(visit)
    await expect(dialog.get_by_text("Hallo! Vragen over een bestelling? Stel ze hier.")).to_be_visible()
    await expect(dialog.get_by_text("Reageert meestal binnen enkele minuten")).to_be_visible()
    assert await visit.csp_violations() == []


async def test_no_reply_time_is_promised_when_nobody_is_online(visit: Visit, chat: ServerProcess) -> None:
    answered_after(chat, SITE_ID, [timedelta(minutes=2)] * 3, "8")
    await open_panel(visit)
    await expect(visit.page.get_by_role("textbox", name="E-mail (required)")).to_be_visible()  # offline form
    await expect(visit.page.get_by_text("Usually replies within")).to_have_count(0)


async def test_agent_first_name_initials_and_seen_receipts(
    visit: Visit, chat: ServerProcess, anna: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent, recorder = anna
    conversation_id = await start(visit, recorder, "Do you bake gluten-free bread?")
    await reply(agent, conversation_id, "We do, on Fridays.", "a1")
    bubble = visit.bubble("We do, on Fridays.")
    await expect(bubble).to_be_visible()
    assert await bubble.text_content() == "Anna: We do, on Fridays."  # read out with the name first
    row = visit.page.locator("[data-chat-service] .a").filter(has_text="We do, on Fridays.")
    await expect(row.locator(".av")).to_have_text("A")
    await expect(row.locator(".i")).to_contain_text("Anna ·")
    await expect(visit.page.get_by_text("Vries")).to_have_count(0)  # first name only

    # The agent reads the conversation: the visitor's message is marked seen, live.
    await call(agent, "/agent", "read", {"conversation_id": conversation_id, "seen": 2})
    own = visit.page.locator("[data-chat-service] .v").filter(has_text="Do you bake gluten-free bread?")
    await expect(own.locator(".d")).to_have_text("Seen")
    # A later message is not seen until the agent reads again.
    await visit.send("And on Saturdays?")
    later = visit.page.locator("[data-chat-service] .v").filter(has_text="And on Saturdays?")
    await expect(later.locator(".d")).to_have_text("Delivered")
    await expect(own.locator(".d")).to_have_text("Seen")

    # Another page of the site: history comes back with the name and the receipt.
    await visit.page.reload()
    await launcher(visit).click()
    await expect(visit.bubble("We do, on Fridays.")).to_have_text("Anna: We do, on Fridays.")
    await expect(own.locator(".d")).to_have_text("Seen")
    await expect(later.locator(".d")).to_have_text("Delivered")
    await call(agent, "/agent", "read", {"conversation_id": conversation_id, "seen": 3})
    await expect(later.locator(".d")).to_have_text("Seen")
    assert await visit.csp_violations() == []


@pytest.mark.parametrize("sites_file", ["names hidden"], indirect=True)
async def test_a_site_that_hides_names_shows_the_team_instead(
    visit: Visit, anna: tuple[socketio.AsyncClient, Recorder]
) -> None:
    agent, recorder = anna
    conversation_id = await start(visit, recorder, "Is the shop open on Monday?")
    await reply(agent, conversation_id, "No, on Mondays we are closed.", "a1")
    bubble = visit.bubble("No, on Mondays we are closed.")
    await expect(bubble).to_have_text("Support: No, on Mondays we are closed.")
    row = visit.page.locator("[data-chat-service] .a").filter(has_text="No, on Mondays we are closed.")
    await expect(row.locator(".av img")).to_have_count(1)  # the team's logo, not a person
    await expect(visit.page.get_by_text("Anna")).to_have_count(0)


async def screenshot(visit: Visit, output_dir: Path, name: str) -> None:
    folder = output_dir / "widget"
    folder.mkdir(exist_ok=True)
    await visit.page.screenshot(path=folder / name)


async def test_axe_in_both_languages_light_dark_and_phone_with_screenshots(
    browser: Browser, host: HostSite, chat: ServerProcess, anna: tuple[socketio.AsyncClient, Recorder], output_dir: Path
) -> None:
    agent, recorder = anna
    answered_after(chat, SITE_ID, [timedelta(minutes=40)] * 3, "7")
    for lang, scheme, viewport in (
        ("en", "light", {"width": 1280, "height": 800}),
        ("nl", "light", {"width": 1280, "height": 800}),
        ("en", "dark", {"width": 1280, "height": 800}),
        ("nl", "dark", {"width": 375, "height": 740}),
        ("en", "light", {"width": 375, "height": 740}),
    ):
        context = await browser.new_context(viewport=viewport, locale=f"{lang}-NL", color_scheme=scheme)  # type: ignore[arg-type]
        visit = await Visit.open(context, host, chat)
        try:
            await visit.page.goto(host.url(lang))
            name = "Vragen?" if lang == "nl" else "Questions?"
            await launcher(visit, name).click()
            await panel(visit).wait_for()
            composer = visit.page.get_by_role("textbox", name="Je bericht" if lang == "nl" else "Your message")
            await composer.fill("Kan ik een taart bestellen?" if lang == "nl" else "Can I order a cake?")
            await composer.press("Enter")
            created = await recorder.next("conversation_created")
            conversation_id = created["conversation"]["id"]
            await reply(agent, conversation_id, "Ja hoor!" if lang == "nl" else "Of course!", "a1")
            await expect(visit.page.locator("[data-chat-service] .a .t").last).to_contain_text("Anna")
            await call(agent, "/agent", "read", {"conversation_id": conversation_id, "seen": 2})
            await expect(visit.page.get_by_text("Gelezen" if lang == "nl" else "Seen", exact=True)).to_be_visible()
            background = await panel(visit).evaluate("(p) => getComputedStyle(p).backgroundColor")
            assert background == ("rgb(28, 28, 30)" if scheme == "dark" else "rgb(255, 255, 255)")
            if viewport["width"] == 375:
                box = await panel(visit).bounding_box()
                assert box is not None and box["width"] == 375  # full screen on a phone
            assert await serious_axe_violations(visit.page) == [], (lang, scheme, viewport)
            await screenshot(visit, output_dir, f"widget-{lang}-{scheme}-{viewport['width']}.png")
            assert await visit.csp_violations() == []
        finally:
            await context.close()
