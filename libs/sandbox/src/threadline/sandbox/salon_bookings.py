"""The example hair salon's booking system (examples/salon): what its assistant's
`book_appointment` HTTP tool calls in `make run`. Not part of WhatsApp: the sandbox serves it
under its own path, `/examples/salon/bookings`, so the example needs no process of its own.

`POST /examples/salon/bookings` with `{"name", "service", "date", "time"}` (the salon's
services `cut`, `color`, `nails`; the date `YYYY-MM-DD`, from today on, not a Sunday; the time
`HH:MM` within the opening hours, the last appointment at 18:00) books it and answers 201 with
`{"reference": "SAL-0001", ...}`; the same booking again answers 200 with the same reference.
Anything else is 400 (not a JSON object) or 422 with `{"error": ...}` naming what is wrong, as
a real booking system would, so the assistant has an error to explain. `GET` lists the
bookings. They are kept in memory: a restart forgets them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from typing import Final

from aiohttp import web

PATH: Final = "/examples/salon/bookings"
SERVICES: Final = ("cut", "color", "nails")
OPENS: Final = time(9, 0)
LAST_APPOINTMENT: Final = time(18, 0)
SUNDAY: Final = 6
NAME_LIMIT: Final = 100
_TIME: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class Booking:
    reference: str
    name: str
    service: str
    date: str
    time: str


class BookingRefused(ValueError):
    """A booking the salon cannot take; the message says why."""


class SalonBookings:
    """The bookings taken so far, and the routes that take them."""

    def __init__(self, today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self._today = today
        self.bookings: list[Booking] = []

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self._book), web.get(PATH, self._list)]

    def book(self, request: Mapping[str, object]) -> tuple[Booking, bool]:
        """The booking `request` asks for, and whether it is new; BookingRefused says why not."""
        name = _text(request, "name")
        if len(name) > NAME_LIMIT:
            raise BookingRefused(f"name: at most {NAME_LIMIT} characters")
        service = _text(request, "service")
        if service not in SERVICES:
            raise BookingRefused(f"service: one of {', '.join(SERVICES)}, got {service!r}")
        day = _day(_text(request, "date"), self._today())
        at = _time(_text(request, "time"))
        for booking in self.bookings:
            if (booking.name, booking.service, booking.date, booking.time) == (
                name,
                service,
                day,
                at,
            ):
                return booking, False
        booking = Booking(f"SAL-{len(self.bookings) + 1:04d}", name, service, day, at)
        self.bookings.append(booking)
        return booking, True

    async def _book(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            booking, new = self.book(body)
        except BookingRefused as refused:
            return web.json_response({"error": str(refused)}, status=422)
        return web.json_response(asdict(booking), status=201 if new else 200)

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"bookings": [asdict(b) for b in self.bookings]})


def _text(request: Mapping[str, object], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BookingRefused(f"{key}: required, as text")
    return " ".join(value.split())


def _day(text: str, today: date) -> str:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BookingRefused(f"date: YYYY-MM-DD, got {text!r}") from None
    if day < today:
        raise BookingRefused(f"date: {day.isoformat()} has passed")
    if day.weekday() == SUNDAY:
        raise BookingRefused(f"date: {day.isoformat()} is a Sunday; the salon is closed")
    return day.isoformat()


def _time(text: str) -> str:
    found = _TIME.fullmatch(text)
    if found is None:
        raise BookingRefused(f"time: HH:MM, got {text!r}")
    at = time(int(found.group(1)), int(found.group(2)))
    if not OPENS <= at <= LAST_APPOINTMENT:
        raise BookingRefused(
            f"time: appointments start between {OPENS:%H:%M} and {LAST_APPOINTMENT:%H:%M}"
        )
    return f"{at:%H:%M}"
