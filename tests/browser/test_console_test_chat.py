"""The console's test chat in headless Chromium against the whole platform: with the salon's
booking flow applied, an operator opens Test chat, writes "book" as the default tester, sees the
flow's question, answers it, taps one of the service buttons the flow offers, and sees the
flow go on to the next step — each answer shown live (the event stream, no reload) — while
nothing reaches WhatsApp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Browser, expect

from tests.browser.conftest import Console
from tests.browser.test_console import signed_in
from tests.conftest import PHONE_NUMBER_ID
from tests.test_flows_end_to_end import salon_configured, salon_diary  # noqa: F401 (fixture)


async def test_an_operator_chats_with_the_salon_flow_and_taps_its_buttons(
    console: Console,
    browser: Browser,
    salon_diary: tuple[str, list[Any]],  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    url, _ = salon_diary
    await salon_configured(console.platform, url, tmp_path)
    page = await signed_in(browser, console)

    await page.get_by_role("link", name="Test chat").click()
    await expect(page.get_by_role("heading", name="Test chat")).to_be_visible()
    await expect(page.get_by_label("Tester", exact=True)).to_have_value("operator")
    await page.get_by_label("Business number").fill(PHONE_NUMBER_ID)
    await page.get_by_role("button", name="Open").click()
    await expect(page.locator("#test-chat-state")).to_contain_text("has not written")

    thread = page.get_by_role("list", name="Test chat messages")
    message = page.get_by_label("Message", exact=True)
    await message.fill("book")
    await message.press("Enter")
    await expect(thread.locator("li.author-flow")).to_contain_text("What is your name?")

    await message.fill("Rui")
    await page.get_by_role("button", name="Send").click()
    await expect(thread).to_contain_text("Which service would you like?")
    offered = thread.locator("li.author-flow").last
    await offered.get_by_role("button", name="Haircut").click()

    await expect(thread.locator("li.author-customer").last).to_contain_text("Haircut")
    await expect(thread.locator("li.author-flow").last).to_contain_text("Which day?")
    assert console.platform.sandbox.outbox.messages() == []
