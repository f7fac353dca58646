"""axe-core (installed with the widget's npm dev dependencies) run in a page by the driver, so
the page's CSP (rightly) does not get in the way. Open shadow roots, such as the widget's, are
checked too."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from tests.helpers import REPO

AXE = REPO / "widget" / "node_modules" / "axe-core" / "axe.min.js"


async def serious_axe_violations(page: Page) -> list[dict[str, Any]]:
    """The serious and critical WCAG problems axe finds on the page as it is now."""
    if not await page.evaluate("() => typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    result = await page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
