"""An operator's session in the console, in headless Chromium against the whole platform:
sign in with a token, filter the inbox by phone, open the conversation, see the customer's next
message arrive live (server-sent events, no reload), take over from the AI, reply with a file
and a text and see them delivered, then export the filtered list as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Console
from tests.test_end_to_end import customer_number, customer_writes
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.testing import eventually

PDF = b"%PDF-1.4\n" + b"quote line: 1 x haircut\n" * 200
WAIT_MS = 30_000
DELIVERED = re.compile("^(delivered|read)$")


async def a_conversation(console: Console, wa_id: str) -> str:
    """The customer writes; the id of their conversation once analytics lists it."""
    platform = console.platform
    await customer_writes(platform, wa_id, "Hello, do you cut hair on Saturdays?")

    found: list[str] = []

    async def listed() -> bool:
        answer = await platform.analytics.ListConversations(
            pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
        )
        found[:] = [c.id for c in answer.conversations]
        return bool(found)

    await eventually(listed, timeout=30)
    return found[0]


async def signed_in(browser: Browser, console: Console) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page.set_default_timeout(WAIT_MS)
    await page.goto(console.url + "/")
    await page.get_by_label("API token").fill(console.platform.api_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible()
    await expect(page.locator("#live-state")).to_have_text("live")
    return page


async def test_an_operator_takes_over_replies_with_a_file_and_exports(
    console: Console, browser: Browser, tmp_path: Path
) -> None:
    wa_id = customer_number()
    other = customer_number()
    conversation_id = await a_conversation(console, wa_id)
    await a_conversation(console, other)
    page = await signed_in(browser, console)

    # Filter: only this customer's conversation is listed.
    rows = page.locator("li.conversation")
    await expect(rows).to_have_count(2)
    await page.get_by_label("Phone").fill(wa_id)
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(wa_id)

    # Open it: the thread shows the customer's message and the AI's answer.
    await rows.first.get_by_role("link").click()
    await expect(page.locator("#conversation-title")).to_be_visible()
    thread = page.locator("ol.thread")
    await expect(thread).to_contain_text("Saturdays")
    await expect(thread.locator("li.author-ai")).not_to_have_count(0)

    # A new customer message arrives live (no reload, no polling).
    await customer_writes(console.platform, wa_id, "Are you still there?")
    await expect(thread).to_contain_text("Are you still there?")

    # Take over from the AI.
    await page.get_by_role("button", name="Take over from the AI").click()
    await expect(page.locator("#ai-state")).to_contain_text("AI paused")
    await expect(page.get_by_role("button", name="Give back to the AI")).to_be_visible()

    # Reply with a file, then a text; both reach WhatsApp and show as delivered.
    quote = tmp_path / "quote.pdf"
    quote.write_bytes(PDF)
    await page.get_by_label("File", exact=True).set_input_files(str(quote))
    await page.get_by_label("Caption").fill("Your quote")
    await page.get_by_role("button", name="Send file").click()
    document = thread.locator("li.outbound", has=page.locator("figure.type-document"))
    await expect(document).to_have_count(1)
    await expect(document.get_by_role("link", name="Download quote.pdf")).to_be_visible()
    await expect(document.locator(".status")).to_have_attribute("data-status", DELIVERED)

    await page.get_by_label("Reply", exact=True).fill("Yes: here is your quote.")
    await page.get_by_role("button", name="Send", exact=True).click()
    text_reply = thread.locator("li.author-agent", has_text="here is your quote")
    await expect(text_reply).to_have_count(1)
    await expect(text_reply.locator(".status")).to_have_attribute("data-status", DELIVERED)

    # Export the filtered list: a CSV with this customer's conversation only.
    await page.get_by_role("link", name="Inbox").first.click()
    await page.get_by_label("Phone").fill(wa_id)
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    async with page.expect_download() as waiting:
        await page.get_by_role("button", name="Export CSV").click()
    download = await waiting.value
    exported = await asyncio.to_thread(Path(await download.path()).read_text)
    table = list(csv.DictReader(io.StringIO(exported)))
    assert [row["id"] for row in table] == [conversation_id], exported[:500]
