"""The example salon's booking system the sandbox serves under /examples/salon/bookings (what the
salon assistant's `book_appointment` tool calls in `make run`), over real HTTP: a valid booking
gets a reference, the same booking again the same one, and every malformed or impossible
booking an error that names what is wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from threadline.sandbox.salon_bookings import PATH
from threadline.sandbox.server import Sandbox


def next_weekday(weekday: int) -> str:
    """The ISO date of the next `weekday` (0 Monday) after today."""
    today = datetime.now(UTC).date()
    ahead = (weekday - today.weekday() - 1) % 7 + 1
    return (today + timedelta(days=ahead)).isoformat()


TUESDAY = next_weekday(1)
BOOKING = {"name": "Ana Souza", "service": "cut", "date": TUESDAY, "time": "10:30"}


async def post(
    http: aiohttp.ClientSession, sandbox: Sandbox, body: Any
) -> tuple[int, dict[str, Any]]:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, str) else {"json": body}
    async with http.post(f"{sandbox.url}{PATH}", **kwargs) as response:
        return response.status, await response.json()


async def test_a_booking_gets_a_reference_and_the_same_booking_the_same_one(
    http: aiohttp.ClientSession, sandbox: Sandbox
) -> None:
    status, booked = await post(http, sandbox, BOOKING)
    assert status == 201
    assert booked == {**BOOKING, "reference": "SAL-0001"}

    again_status, again = await post(http, sandbox, {**BOOKING, "time": "10:30"})
    assert (again_status, again["reference"]) == (200, "SAL-0001")

    other_status, other = await post(http, sandbox, {**BOOKING, "service": "nails", "time": "9:00"})
    assert (other_status, other["reference"], other["time"]) == (201, "SAL-0002", "09:00")

    async with http.get(f"{sandbox.url}{PATH}") as response:
        listed = await response.json()
    assert [b["reference"] for b in listed["bookings"]] == ["SAL-0001", "SAL-0002"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"name": "  "}, "name"),
        ({"name": 7}, "name"),
        ({"service": "massage"}, "service"),
        ({"date": "25/12"}, "date"),
        ({"date": (date(2020, 1, 7)).isoformat()}, "has passed"),
        ({"date": next_weekday(6)}, "Sunday"),
        ({"time": "8:59"}, "between 09:00 and 18:00"),
        ({"time": "18:30"}, "between 09:00 and 18:00"),
        ({"time": "noon"}, "time"),
    ],
)
async def test_an_impossible_booking_is_refused_naming_what_is_wrong(
    http: aiohttp.ClientSession, sandbox: Sandbox, change: dict[str, Any], named: str
) -> None:
    status, refused = await post(http, sandbox, {**BOOKING, **change})

    assert status == 422 and named in refused["error"]
    assert sandbox.salon_bookings.bookings == []


@pytest.mark.parametrize("body", ["not json", "[1, 2]"])
async def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    http: aiohttp.ClientSession, sandbox: Sandbox, body: str
) -> None:
    status, refused = await post(http, sandbox, body)

    assert status == 400 and "JSON object" in refused["error"]
