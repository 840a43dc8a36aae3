"""axe-core's automated accessibility rules on a console page (WCAG 2.0 and 2.1 at levels A and
AA, and axe's best practices): the engine is the copy the `axe-playwright-python` wheel ships,
injected into the page; nothing is fetched."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Page

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
OPTIONS = {"runOnly": {"type": "tag", "values": TAGS}, "resultTypes": ["violations"]}


async def axe_violations(page: Page) -> str:
    """axe-core's report of the page as it is now; "" when nothing is violated."""
    results: Any = await Axe().run(page, options=OPTIONS)
    return "" if results.violations_count == 0 else str(results.generate_report())
