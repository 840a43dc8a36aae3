"""The console's metrics page in headless Chromium against the whole platform: two customers
write to two business numbers; the charts draw the five metrics of seed 003 over time from
`/api/v1/metrics`, a line per number, with the same figures the API gives; changing the
number, the assistant or the period asks the API again with that filter and redraws the charts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import aiohttp
from playwright.async_api import Browser, expect

from tests.browser.conftest import Console
from tests.browser.test_console import signed_in
from tests.conftest import PHONE_NUMBER_ID
from tests.test_end_to_end import customer_number
from tests.test_session_rules import new_business_number
from threadline.sandbox.customer import send_inbound
from threadline.testing import eventually


async def api_get(console: Console, path: str, **params: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            console.url + path,
            params=params,
            headers={"Authorization": f"Bearer {console.platform.api_token}"},
        ) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


async def writes_to(console: Console, number: str, wa_id: str, text: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, _ = await send_inbound(
            http,
            console.platform.webhook_url,
            console.platform.app_secret,
            phone_number_id=number,
            display_phone_number="15550000077",
            wa_id=wa_id,
            profile_name="Ana Souza",
            text=text,
        )
    assert status == 200


async def test_the_metrics_charts_draw_the_apis_figures_and_follow_the_filters(
    console: Console, browser: Browser
) -> None:
    other_number = new_business_number()
    await writes_to(console, PHONE_NUMBER_ID, customer_number(), "Hello, are you open today?")
    await writes_to(console, PHONE_NUMBER_ID, customer_number(), "Do you take cards?")
    await writes_to(console, other_number, customer_number(), "Hi, how much is a haircut?")

    async def all_answered() -> bool:
        metrics = await api_get(console, "/api/v1/metrics")
        return bool(metrics["total_conversations"] == 3 and metrics["answered_rate"] == 1)

    await eventually(all_answered, timeout=30)
    by_number = {
        number: await api_get(console, "/api/v1/metrics", business_number=number)
        for number in (PHONE_NUMBER_ID, other_number)
    }
    page = await signed_in(browser, console)

    # The metrics page, a line per business number.
    await page.get_by_role("link", name="Metrics").click()
    await expect(page.get_by_role("heading", name="Metrics")).to_be_visible()
    await page.get_by_label("Lines by").select_option("business_number")
    async with page.expect_request(lambda r: "/api/v1/metrics?" in r.url) as asked:
        await page.get_by_role("button", name="Show").click()
    assert "business_number=" not in (await asked.value).url
    charts = page.locator("#charts")
    await expect(charts).to_have_attribute("aria-busy", "false")
    await expect(page.locator(".legend li")).to_have_text(sorted(by_number))

    # Each chart's points are the API's figures for that number and day (one day, unless the
    # test ran across midnight UTC); the response time is the API's for that day alone.
    async def drawn(key: str, number: str, day: str) -> float:
        point = charts.locator(
            f'figure[data-metric="{key}"] circle[data-series="{number}"][data-day="{day}"]'
        )
        await expect(point).to_have_count(1)
        return float(await point.get_attribute("data-value") or "nan")

    times = []
    for number, metrics in by_number.items():
        for daily in metrics["series"]:
            day, conversations = daily["day"], daily["conversations"] or 1
            expected = {
                "conversations": daily["conversations"],
                "response_rate": daily["response_rate"],
                "answered_rate": daily["answered_rate"],
                "cost_per_conversation": daily["cost"] / conversations,
                "messages_per_conversation": (daily["customer_messages"] + daily["replies"])
                / conversations,
            }
            for key, value in expected.items():
                assert await drawn(key, number, day) == value, (key, number, day)
            if daily["conversations"]:
                that_day = await api_get(
                    console,
                    "/api/v1/metrics",
                    business_number=number,
                    period_from=day,
                    period_to=(date.fromisoformat(day) + timedelta(days=1)).isoformat(),
                )
                seconds = that_day["ai_response_time"]["average_seconds"]
                assert await drawn("ai_response_time", number, day) == seconds, (number, day)
                times.append(seconds)
    assert times and all(seconds > 0 for seconds in times), times
    # The folded table under the chart holds the same figures.
    table = page.get_by_role("table", name="Conversations by day", include_hidden=True)
    cells = await table.locator("td[data-value]").evaluate_all(
        "(cells) => cells.map((c) => [c.dataset.series, Number(c.dataset.value), c.textContent])"
    )
    assert sorted(cells) == sorted(
        [n, d["conversations"], str(d["conversations"])]
        for n, m in by_number.items()
        for d in m["series"]
    )

    # A number chosen: the API is asked for it, and the charts draw its line only.
    await page.get_by_label("Business number").fill(other_number)
    async with page.expect_request(lambda r: "/api/v1/metrics?" in r.url) as asked:
        await page.get_by_role("button", name="Show").click()
    assert f"business_number={other_number}" in (await asked.value).url
    await expect(page.locator(".legend li")).to_have_text([other_number])
    conversations = charts.locator('figure[data-metric="conversations"] circle')
    await expect(conversations).to_have_count(1)
    await expect(conversations).to_have_attribute("data-value", "1")

    # An assistant chosen, a line per assistant: the platform's one, over both numbers.
    await page.get_by_label("Business number").fill("")
    await page.get_by_label("Assistant").fill("default")
    await page.get_by_label("Lines by").select_option("assistant")
    async with page.expect_request(lambda r: "/api/v1/metrics?" in r.url) as asked:
        await page.get_by_role("button", name="Show").click()
    assert "assistant=default" in (await asked.value).url
    assert "business_number=" not in (await asked.value).url
    await expect(page.locator(".legend li")).to_have_text(["default"])
    drawn_conversations = charts.locator('figure[data-metric="conversations"] circle')
    await expect(drawn_conversations).not_to_have_count(0)
    values = await drawn_conversations.evaluate_all("(c) => c.map((e) => Number(e.dataset.value))")
    assert sum(values) == 3, values

    # A period after today: asked with it, and nothing to draw.
    await page.get_by_label("Assistant").fill("")
    await page.get_by_label("From", exact=True).fill("2099-01-01")
    await page.get_by_label("To", exact=True).fill("2099-02-01")
    async with page.expect_request(lambda r: "/api/v1/metrics?" in r.url) as asked:
        await page.get_by_role("button", name="Show").click()
    assert "period_from=2099-01-01" in (await asked.value).url
    await expect(page.locator(".legend li")).to_have_text(["all"])
    await expect(charts.locator("circle")).to_have_count(0)
    await expect(page.locator("#metrics-totals dd").first).to_have_text("0")
