"""Customers writing steadily, delivered as Meta delivers: signed, retried, and duplicated.

Every customer message is its own webhook with a fresh wamid and the current time (the
assistant does not answer messages older than an hour). Each webhook body is delivered one to
`max_copies` times: the first copy when the customer writes, the others at random delays (some
at once, racing the first). Every delivery is retried with back-off until it gets a 200 or its
time runs out, as Meta retries — the same bytes and signature each time.

The profile name of each message is its tag (`c17m3`: customer 17, message 3). The checks find
the message a reply answers through the event store (the reply's wamid → its dispatch → the
queued reply → the customer message it answers → that message's tag), so a send the session
never recorded is seen as such.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from tests.chaos.options import Options
from threadline.sandbox.customer import build_inbound_text
from threadline.sandbox.identifiers import new_wamid
from threadline.sandbox.signing import SIGNATURE_HEADER, sign
from threadline.sandbox.webhooks import encode_webhook

DISPLAY_NUMBER = "15550000000"
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)


def business_number(index: int) -> str:
    return f"1090000{index:08d}"


def customer_wa_id(customer: int) -> str:
    return f"4470{customer:08d}"


def tag(customer: int, message: int) -> str:
    return f"c{customer}m{message}"


@dataclass(frozen=True, slots=True)
class SentMessage:
    wamid: str
    tag: str
    customer: int
    phone_number_id: str
    wa_id: str


@dataclass
class LoadFigures:
    """What the customers sent and how ingest answered."""

    sent: dict[str, SentMessage] = field(default_factory=dict)  # by wamid
    webhooks: int = 0  # distinct bodies
    deliveries: int = 0  # copies, the first included
    attempts: int = 0  # HTTP requests
    accepted: int = 0  # deliveries answered 200
    undelivered: int = 0  # deliveries with no 200 within the bound
    answers: Counter[int] = field(default_factory=Counter)  # non-200 answers by status
    connection_errors: int = 0
    started: float = 0.0
    last_written: float = 0.0  # monotonic: the last customer message written
    finished: float = 0.0  # monotonic: the last delivery settled

    @property
    def retries(self) -> int:
        return self.attempts - self.deliveries


class Customers:
    def __init__(self, options: Options, webhook_url: str, app_secret: str, rng: random.Random):
        self.options, self.url, self.secret, self.rng = options, webhook_url, app_secret, rng
        self.figures = LoadFigures()
        self._deliveries: set[asyncio.Task[None]] = set()

    async def run(self) -> LoadFigures:
        options = self.options
        connector = aiohttp.TCPConnector(limit=options.in_flight)
        async with aiohttp.ClientSession(connector=connector, timeout=_REQUEST_TIMEOUT) as http:
            self.figures.started = time.monotonic()
            await asyncio.gather(*(self._customer(http, c) for c in range(options.customers)))
            self.figures.last_written = time.monotonic()
            while self._deliveries:
                await asyncio.gather(*list(self._deliveries))
        self.figures.finished = time.monotonic()
        return self.figures

    async def _customer(self, http: aiohttp.ClientSession, customer: int) -> None:
        options = self.options
        interval = options.duration / options.messages
        began = self.figures.started + self.rng.uniform(0, interval)
        for message in range(options.messages):
            at = began + message * interval + self.rng.uniform(0, interval * 0.3)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            self._write(http, customer, message)

    def _write(self, http: aiohttp.ClientSession, customer: int, message: int) -> None:
        number = business_number(customer % self.options.numbers)
        wa_id, wamid, name = customer_wa_id(customer), new_wamid(), tag(customer, message)
        payload = build_inbound_text(
            number,
            DISPLAY_NUMBER,
            wa_id,
            f"{name} Chaos",
            f"question {message} about order {customer}",
            wamid=wamid,
            timestamp=datetime.now(UTC),
        )
        body = encode_webhook(payload)
        self.figures.sent[wamid] = SentMessage(wamid, name, customer, number, wa_id)
        self.figures.webhooks += 1
        copies = self.rng.randint(1, self.options.max_copies)
        for copy in range(copies):
            delay = (
                0.0
                if copy == 0
                else self.rng.choice((0.0, 1.0, 1.0))
                * self.rng.uniform(0, self.options.duplicate_delay)
            )
            task = asyncio.create_task(self._deliver(http, body, delay))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, http: aiohttp.ClientSession, body: bytes, delay: float) -> None:
        figures = self.figures
        await asyncio.sleep(delay)
        figures.deliveries += 1
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        deadline = time.monotonic() + self.options.delivery_timeout
        for attempt in range(1, 10_000):
            figures.attempts += 1
            status: int | None = None
            try:
                async with http.post(self.url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError):
                figures.connection_errors += 1
            if status == 200:
                figures.accepted += 1
                return
            if status is not None:
                figures.answers[status] += 1
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(min(0.2 * 2 ** (attempt - 1), 3.0) * self.rng.uniform(0.5, 1.0))
        figures.undelivered += 1
