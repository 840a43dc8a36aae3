"""The 24-hour window in the console, in headless Chromium against the whole platform: with a
customer who wrote a minute ago the conversation shows the window's time left and the reply
box; with one whose last message is 30 hours old (the customer's own timestamp, as WhatsApp
sends it) the reply box is replaced by a template picker listing the number's templates with a
field per parameter, and the template sent appears in the thread and reaches WhatsApp."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
from playwright.async_api import Browser, expect

from tests.browser.a11y import axe_violations
from tests.browser.conftest import Console
from tests.browser.test_console import DELIVERED, signed_in
from tests.conftest import PHONE_NUMBER_ID
from tests.test_end_to_end import customer_number
from threadline.sandbox.customer import send_inbound
from threadline.testing import eventually, unique_id


async def api(console: Console, method: str, path: str, body: Any = None, **params: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method,
            console.url + path,
            params=params,
            json=body,
            headers={"Authorization": f"Bearer {console.platform.api_token}"},
        ) as response,
    ):
        assert response.status < 300, await response.text()
        return await response.json()


async def customer_wrote(console: Console, wa_id: str, text: str, *, hours_ago: float) -> str:
    """The customer's message, sent `hours_ago`; the id of their conversation once listed."""
    async with aiohttp.ClientSession() as http:
        status, _ = await send_inbound(
            http,
            console.platform.webhook_url,
            console.platform.app_secret,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number="15550000077",
            wa_id=wa_id,
            profile_name="Rui Costa",
            text=text,
            timestamp=int(time.time() - hours_ago * 3600),
        )
    assert status == 200
    found: list[str] = []

    async def listed() -> bool:
        answer = await api(console, "GET", "/api/v1/conversations", customer_phone=wa_id)
        found[:] = [c["id"] for c in answer["conversations"]]
        return bool(found)

    await eventually(listed, timeout=30)
    return found[0]


async def test_a_closed_window_offers_the_numbers_templates_and_sends_one(
    console: Console, browser: Browser
) -> None:
    name = unique_id("reminder_")
    await api(
        console,
        "POST",
        "/api/v1/templates",
        {
            "phone_number_id": PHONE_NUMBER_ID,
            "name": name,
            "language": "en_US",
            "category": "UTILITY",
            "body": "Hi {{1}}, your appointment is on {{2}}.",
        },
    )
    recent = await customer_wrote(console, customer_number(), "Hi there", hours_ago=0)
    old_customer = customer_number()
    old = await customer_wrote(console, old_customer, "Can I book for Friday?", hours_ago=30)
    page = await signed_in(browser, console)

    # A customer who just wrote: the window's time left, the reply box, no template picker.
    await page.goto(f"{console.url}/#/conversations/{recent}")
    await expect(page.locator("#window-left")).to_have_text(
        re.compile(r"^Open: 2[34] h \d+ min left$")
    )
    await expect(page.get_by_label("Reply", exact=True)).to_be_visible()
    await expect(page.get_by_role("form", name="Send a template")).to_have_count(0)

    # One whose last message is 30 hours old: only a template can be sent.
    await page.goto(f"{console.url}/#/conversations/{old}")
    await expect(page.locator("ol.thread")).to_contain_text("Can I book for Friday?")
    await expect(page.locator("#window-left")).to_have_text("Closed: only a template can be sent")
    await expect(page.get_by_label("Reply", exact=True)).to_be_hidden()
    await expect(page.get_by_label("File", exact=True)).to_be_hidden()
    picker = page.get_by_role("form", name="Send a template")
    await expect(picker.get_by_label("Template")).to_have_text(f"{name} (en_US)")
    preview = picker.locator("#template-preview")
    await expect(preview).to_have_text("Hi {{1}}, your appointment is on {{2}}.")
    await picker.get_by_label("Parameter {{1}}").fill("Rui")
    await picker.get_by_label("Parameter {{2}}").fill("Friday at 10:00")
    await expect(preview).to_have_text("Hi Rui, your appointment is on Friday at 10:00.")
    report = await axe_violations(page)
    assert not report, report
    await picker.get_by_role("button", name="Send template").click()

    # The template is in the thread and reaches WhatsApp with its parameters.
    sent = page.locator('ol.thread li.outbound[data-type="template"]')
    await expect(sent).to_have_count(1)
    await expect(sent).to_contain_text("Hi Rui, your appointment is on Friday at 10:00.")
    await expect(sent.locator(".status")).to_have_attribute("data-status", DELIVERED)
    (accepted,) = [
        m for m in console.platform.sandbox.outbox.messages() if m.request.get("type") == "template"
    ]
    assert accepted.to == old_customer
    template: Any = accepted.request["template"]
    assert template["name"] == name
    assert [p["text"] for p in template["components"][0]["parameters"]] == [
        "Rui",
        "Friday at 10:00",
    ]

    # The customer answers: the window opens again, live, and the reply box comes back.
    await customer_wrote(console, old_customer, "Yes, see you then", hours_ago=0)
    await expect(page.locator("ol.thread")).to_contain_text("see you then")
    await expect(page.locator("#window-left")).to_have_text(re.compile(r"^Open: "))
    await expect(page.get_by_label("Reply", exact=True)).to_be_visible()
    await expect(picker).to_have_count(0)
