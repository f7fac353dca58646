"""The watch every browser test runs under: console errors and uncaught exceptions are caught."""

from __future__ import annotations

from playwright.async_api import Browser

from tests.browser.conftest import PageErrors
from tests.waiting import eventually


async def test_console_errors_and_uncaught_exceptions_of_any_page_are_collected(
    browser: Browser, page_errors: PageErrors
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.set_content("<p>test</p>")
    await page.evaluate("() => { console.error('boom in the console'); console.warn('only a warning'); }")
    await page.evaluate("() => setTimeout(() => { throw new Error('boom uncaught'); }, 0)")
    await eventually(lambda: len(page_errors.seen) == 2, what="both errors")
    seen = page_errors.seen
    assert "boom in the console" in seen[0] and "only a warning" not in "".join(seen)
    assert "boom uncaught" in seen[1]
    page_errors.seen.clear()  # caught as it should be: this test passes
    await context.close()
