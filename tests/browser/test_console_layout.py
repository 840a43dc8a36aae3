"""The console on a phone (390x844) and on a laptop (1366x768), in headless Chromium against the
whole platform: no view scrolls sideways, even with a long unbroken link in the thread; on the
phone a conversation opens as its own view with a back control and the reply box in reach; on
the laptop the thread and its details sit side by side."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Console
from tests.browser.test_console import WAIT_MS, a_conversation
from tests.test_end_to_end import customer_number, customer_writes

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
LONG_LINK = "https://example.com/booking?" + "slot=saturday-morning-" * 12


async def fits(page: Page) -> None:
    """Nothing wider than the window: the page does not scroll sideways."""
    scroll_width, inner_width = await page.evaluate(
        "() => [document.documentElement.scrollWidth, innerWidth]"
    )
    assert scroll_width <= inner_width, (page.url, scroll_width, inner_width)


async def on(browser: Browser, console: Console, viewport: dict[str, int]) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    page.set_default_timeout(WAIT_MS)
    await page.goto(console.url + "/")
    await fits(page)
    await page.get_by_label("API token").fill(console.platform.api_token)
    await page.get_by_label("API token").press("Enter")
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    await expect(page.locator("li.conversation")).to_have_count(1)
    await fits(page)
    return page


async def conversation_opened(page: Page) -> None:
    await page.locator("li.conversation").get_by_role("link").click()
    await expect(page.locator("ol.thread")).to_contain_text(LONG_LINK)
    await fits(page)


async def other_views_fit(page: Page) -> None:
    await page.get_by_role("link", name="Metrics").click()
    await expect(page.locator("#charts")).to_have_attribute("aria-busy", "false")
    await fits(page)
    await page.get_by_role("link", name="Test chat").click()
    await expect(page.get_by_role("heading", name="Test chat")).to_be_visible()
    await fits(page)


def box_of(found: Any) -> dict[str, float]:
    assert found is not None
    return dict(found)


async def test_the_console_is_usable_on_a_phone_and_on_a_laptop(
    console: Console, browser: Browser
) -> None:
    wa_id = customer_number()
    await a_conversation(console, wa_id)
    await customer_writes(console.platform, wa_id, f"Is this the right link? {LONG_LINK}")

    # The phone: the conversation is its own view, with a way back and the reply box in reach.
    page = await on(browser, console, PHONE)
    await conversation_opened(page)
    await expect(page.get_by_role("list", name="Conversations")).to_have_count(0)
    back = page.get_by_role("link", name="Back to inbox")
    await expect(back).to_be_in_viewport()
    reply = page.get_by_label("Reply", exact=True)
    await reply.scroll_into_view_if_needed()
    await expect(reply).to_be_in_viewport()
    field = box_of(await reply.bounding_box())
    assert field["x"] >= 0 and field["x"] + field["width"] <= PHONE["width"], field
    await reply.fill("We will check and answer in a minute.")
    await expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    await back.click()
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    await expect(page.locator("li.conversation")).to_have_count(1)
    await fits(page)
    await other_views_fit(page)
    await page.close()

    # The laptop: the thread with its details beside it, the reply under it.
    page = await on(browser, console, LAPTOP)
    await conversation_opened(page)
    thread = box_of(await page.locator("ol.thread").bounding_box())
    details = box_of(await page.get_by_role("complementary", name="Details").bounding_box())
    assert details["x"] >= thread["x"] + thread["width"], (thread, details)
    await expect(page.get_by_label("Reply", exact=True)).to_be_visible()
    await other_views_fit(page)
    await page.close()
