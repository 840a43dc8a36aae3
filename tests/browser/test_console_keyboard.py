"""The console by keyboard alone and by accessible names, in headless Chromium against the
whole platform: sign in with Enter, Tab to the filters (the focus drawn), filter, Tab to the
conversation and open it with Enter, take over and reply without a mouse; every control of the
inbox, the conversation, the metrics and the test chat has an accessible name (found by its label
or role) and axe-core finds nothing wrong there; a customer's new message is announced by the
page's polite live region."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.a11y import axe_violations
from tests.browser.conftest import Console
from tests.browser.test_console import WAIT_MS, a_conversation
from tests.test_end_to_end import customer_number, customer_writes

# Every visible control without an accessible name: its own label, aria-label(ledby), or (a
# button) its text.
UNNAMED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
    .filter((e) => e.getClientRects().length && !e.closest('[hidden]'))
    .filter((e) => !(
        (e.labels && [...e.labels].some((l) => l.textContent.trim())) ||
        (e.getAttribute('aria-label') || '').trim() ||
        (e.getAttribute('aria-labelledby') || '').split(' ').some(
            (id) => id && (document.getElementById(id)?.textContent || '').trim()) ||
        ((e.tagName === 'BUTTON' || e.tagName === 'A') && e.textContent.trim())))
    .map((e) => e.outerHTML.slice(0, 120))"""


async def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the focus is on `selector`; the focus must be drawn there."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            style, width = await page.evaluate(
                """() => { const s = getComputedStyle(document.activeElement);
                           return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
            )
            assert style != "none" and width >= 2, (selector, style, width)
            return
    raise AssertionError(f"Tab never reached {selector}")


async def all_named(page: Page) -> None:
    """Every control named, and nothing axe-core's rules find wrong."""
    assert await page.evaluate(UNNAMED) == []
    report = await axe_violations(page)
    assert not report, report


async def test_an_operator_works_by_keyboard_and_every_control_is_named(
    console: Console, browser: Browser
) -> None:
    wa_id = customer_number()
    await a_conversation(console, wa_id)
    await a_conversation(console, customer_number())
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    await page.goto(console.url + "/")

    # Sign in: the token field has the focus; Enter signs in.
    await expect(page.get_by_label("API token")).to_be_focused()
    await page.keyboard.type(console.platform.api_token)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    rows = page.locator("li.conversation")
    await expect(rows).to_have_count(2)

    # The inbox's controls, each by its name.
    filters = page.get_by_role("search", name="Filter conversations")
    for label in ("Channel", "Status", "Assistant", "Business number", "Phone", "From", "To"):
        await expect(filters.get_by_label(label, exact=True)).to_be_visible()
    for button in ("Apply", "Clear"):
        await expect(filters.get_by_role("button", name=button)).to_be_visible()
    await expect(page.get_by_role("button", name="Export CSV")).to_be_visible()
    await expect(page.get_by_role("list", name="Conversations")).to_be_visible()
    await all_named(page)

    # Tab to the filters, filter by phone with Enter, Tab to the conversation, Enter opens it.
    await tab_to(page, "#filter-channel")
    await tab_to(page, "#filter-customer_phone")
    await page.keyboard.type(wa_id)
    await page.keyboard.press("Enter")
    await expect(rows).to_have_count(1)
    # In the inbox too, the customer's new message is announced.
    announcer = page.locator("#announcer")
    await customer_writes(console.platform, wa_id, "Hello again")
    await expect(announcer).to_contain_text("New message in the conversation with Ana Souza")
    await tab_to(page, "li.conversation a")
    await page.keyboard.press("Enter")
    await expect(page.locator("#conversation-title")).to_be_visible()
    thread = page.get_by_role("list", name="Messages")
    await expect(thread.locator("li.author-ai")).not_to_have_count(0)

    # The conversation's controls, each by its name.
    for label in ("Reply", "File", "Caption", "Status"):
        await expect(page.get_by_label(label, exact=True)).to_be_visible()
    for button in ("Send", "Send file", "Take over from the AI", "Change"):
        await expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Back to inbox")).to_be_visible()
    await all_named(page)

    # Take over by keyboard; the customer's next message is announced (politely); reply by
    # keyboard.
    await tab_to(page, "#hand-off")
    await page.keyboard.press("Enter")
    await expect(page.locator("#ai-state")).to_contain_text("AI paused")
    await expect(page.get_by_role("button", name="Give back to the AI")).to_be_focused()
    await expect(announcer).to_have_attribute("aria-live", "polite")
    await customer_writes(console.platform, wa_id, "Can I come at noon?")
    await expect(announcer).to_have_text("New message from the customer: Can I come at noon?")
    await tab_to(page, "#reply-text")
    await page.keyboard.type("Noon works, see you then.")
    await page.keyboard.press("Control+Enter")
    await expect(thread.locator("li.author-agent")).to_contain_text("Noon works")

    # The metrics page's controls, each by its name.
    await page.get_by_role("link", name="Metrics").click()
    await expect(page.locator("#charts")).to_have_attribute("aria-busy", "false")
    metrics = page.get_by_role("search", name="Metrics filters")
    for label in ("From", "To", "Business number", "Assistant", "Channel", "Lines by"):
        await expect(metrics.get_by_label(label, exact=True)).to_be_visible()
    await expect(metrics.get_by_role("button", name="Show")).to_be_visible()
    await expect(page.get_by_role("img", name="Conversations")).to_be_visible()
    await all_named(page)

    # The test chat's too.
    await page.get_by_role("link", name="Test chat").click()
    await expect(page.get_by_label("Tester", exact=True)).to_be_visible()
    await expect(page.get_by_label("Business number", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Open")).to_be_visible()
    await all_named(page)
