"""One visitor's browser tab on the host site, instrumented: every request, WebSocket and CSP
violation is recorded, and the widget's parts are found the way a person would find them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Locator, Page, Request, Response, WebSocket

from tests.browser.host import HostSite
from tests.helpers import ServerProcess

# Runs before any page script and is not subject to the page's CSP (it comes from the driver).
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
}, true);
"""

STORAGE = """async () => ({
  local: Object.keys(localStorage),
  session: Object.keys(sessionStorage),
  indexedDB: (await indexedDB.databases()).map((db) => db.name),
})"""


@dataclass
class Visit:
    page: Page
    context: BrowserContext
    host: HostSite
    chat: ServerProcess
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    set_cookies: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, context: BrowserContext, host: HostSite, chat: ServerProcess) -> Visit:
        await context.add_init_script(RECORD_CSP_VIOLATIONS)
        page = await context.new_page()
        visit = cls(page, context, host, chat)
        page.on("request", visit._on_request)
        page.on("response", visit._on_response)
        page.on("websocket", visit._on_websocket)
        return visit

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _on_websocket(self, socket: WebSocket) -> None:
        self.websockets.append(socket.url)

    async def _on_response(self, response: Response) -> None:
        headers = await response.all_headers()
        if "set-cookie" in headers:
            self.set_cookies.append(response.url)

    async def load(self, lang: str = "en") -> None:
        await self.page.goto(self.host.url(lang))
        await self.launcher.wait_for()

    # --- the widget, found by role and name ------------------------------------------------------

    @property
    def launcher(self) -> Locator:
        return self.page.get_by_role("button", name="Open chat")

    @property
    def panel(self) -> Locator:
        return self.page.get_by_role("dialog", name="Chat with us")

    @property
    def composer(self) -> Locator:
        return self.page.get_by_role("textbox", name="Your message")

    @property
    def forget_button(self) -> Locator:
        return self.page.get_by_role("button", name="End chat and forget this device")

    def bubble(self, text: str) -> Locator:
        return self.page.locator("[data-chat-service] .t").filter(has_text=text)

    async def open_widget(self) -> None:
        await self.launcher.click()
        await self.panel.wait_for()

    async def send(self, text: str) -> None:
        await self.composer.fill(text)
        await self.composer.press("Enter")

    # --- what the browser holds and sent ---------------------------------------------------------

    async def storage(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.page.evaluate(STORAGE)
        state["cookies"] = await self.context.cookies()
        return state

    def chat_paths(self) -> list[str]:
        origin = self.chat.url
        return [urlsplit(url).path for url in self.requests if url.startswith(origin + "/")]

    def third_party_requests(self) -> list[str]:
        allowed = (self.host.origin + "/", self.chat.url + "/")
        return [url for url in self.requests if not url.startswith(allowed)]

    async def csp_violations(self) -> list[Any]:
        seen: list[Any] = await self.page.evaluate("() => window.__cspViolations")
        return [*seen, *self.host.csp_reports]
