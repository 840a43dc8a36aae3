"""A fuzzing campaign: rounds of hostile inputs, each followed by a stall check and a look at
what the platform kept; then the whole-run checks (stored exactly once, nothing unsigned kept).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from tests.fuzz.cases import Case, HttpCase, IdPool, Outcome, WebhookCase, family
from tests.fuzz.files import FilesGenerator
from tests.fuzz.gateway import GatewayGenerator
from tests.fuzz.grpc_cases import GrpcGenerator
from tests.fuzz.oracle import Sender, body_digest
from tests.fuzz.platform import Target
from tests.fuzz.readmodels import wait_for_wamids
from tests.fuzz.stall import StallCheck
from tests.fuzz.watchers import EventLogWatcher, StreamWatcher
from tests.fuzz.webhooks import WebhookGenerator

FILE_SHARE = 0.2  # of the gateway and gRPC requests: operators' file sends (`files`)


@dataclass(frozen=True)
class Settings:
    webhooks: int = 50_000
    requests: int = 10_000
    max_seconds: float = 30 * 60
    seed: int = 0
    stall_every: int = 500
    stall_seconds: float = 30.0
    drain_seconds: float = 180.0
    in_flight: int = 8
    settle_seconds: float = 60.0
    extra: tuple[Case, ...] = ()  # sent first (the reproductions, or replayed failures)


@dataclass
class Violation:
    what: str
    cases: list[Case] = field(default_factory=list)
    outcome: Outcome | None = None


@dataclass
class Figures:
    """Everything a run counts; `violations` empty means the platform held."""

    settings: Settings
    target: str = ""
    tried: Counter[str] = field(default_factory=Counter)  # "<family> <kind>"
    answers: dict[str, Counter[str]] = field(default_factory=dict)  # family -> answer -> count
    violations: list[Violation] = field(default_factory=list)
    stall_checks: int = 0
    stalls: int = 0
    reply_seconds: list[float] = field(default_factory=list)
    read_model_seconds: list[float] = field(default_factory=list)
    drain_seconds: list[float] = field(default_factory=list)
    under_load_seconds: list[float] = field(default_factory=list)
    follow_ups: int = 0
    follow_ups_unanswered: int = 0
    valid_expected: int = 0
    valid_once: int = 0
    unsigned_sent: int = 0
    events_read: int = 0
    scanned: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    dead_reasons: Counter[str] = field(default_factory=Counter)
    in_read_models: int = 0
    read_model_sample: int = 0
    fuzz_seconds: float = 0.0
    cpu_seconds: float = 0.0  # of this process (the harness; in-process, the services too)
    total_seconds: float = 0.0
    stopped_by_time: bool = False

    def count(self, case: Case, outcome: Outcome, related: Sequence[Case] = ()) -> None:
        """One input tried; its violations keep it, and the inputs `related` to it."""
        name = family(case)
        self.tried[f"{name} {case.kind}"] += 1
        self.answers.setdefault(name, Counter())[outcome.answer] += 1
        for what in outcome.violations:
            self.violations.append(Violation(what, [case, *related], outcome))


class Campaign:
    def __init__(
        self, target: Target, settings: Settings, progress: Callable[[str], None] = print
    ) -> None:
        self.target = target
        self.settings = settings
        self.progress = progress
        self.figures = Figures(settings, target.description)
        self.pool = IdPool()
        self.log = EventLogWatcher(target, self.pool)
        self.streams = StreamWatcher(target)
        self.stall = StallCheck(target, settings.stall_seconds)
        self._accepted_valid: set[str] = set()
        self._valid_customers: dict[str, str] = {}  # wamid -> wa_id of the valid messages
        seed = settings.seed
        self._webhooks = WebhookGenerator(random.Random(seed), target.numbers, self.pool)
        self._gateway = GatewayGenerator(random.Random(seed + 1), self.pool, target.numbers)
        self._grpc = GrpcGenerator(random.Random(seed + 2), self.pool, target.numbers)
        self._mix = random.Random(seed + 3)
        self._files = FilesGenerator(random.Random(seed + 4), self.pool, target.numbers)

    async def run(self) -> Figures:
        started, cpu = time.monotonic(), time.process_time()
        await self.streams.start()
        try:
            async with Sender(self.target) as sender, aiohttp.ClientSession() as http:
                await self._rounds(sender, http, started)
                await self._settle()
        finally:
            await self.streams.stop()
        self.figures.total_seconds = time.monotonic() - started
        self.figures.cpu_seconds = time.process_time() - cpu
        return self.figures

    async def _rounds(self, sender: Sender, http: aiohttp.ClientSession, started: float) -> None:
        s, f = self.settings, self.figures
        if await self._stall_check(http, []):
            return
        pending = list(s.extra)
        webhooks_left, requests_left = s.webhooks, s.requests
        while pending or webhooks_left + requests_left > 0:
            if time.monotonic() - started > s.max_seconds:
                f.stopped_by_time = True
                break
            batch = pending[: s.stall_every]
            del pending[: s.stall_every]
            while len(batch) < s.stall_every and webhooks_left + requests_left > 0:
                if self._mix.random() * (webhooks_left + requests_left) < webhooks_left:
                    batch.append(self._webhooks.next())
                    webhooks_left -= 1
                else:
                    roll = self._mix.random()
                    if roll < FILE_SHARE:
                        batch.append(self._files.next())
                    else:
                        gateway = roll < (1 + FILE_SHARE) / 2
                        batch.append(self._gateway.next() if gateway else self._grpc.next())
                    requests_left -= 1
            round_started = time.monotonic()
            loaded = asyncio.create_task(self.stall.run(http, under_load=True))
            await self._send_all(sender, batch)
            f.fuzz_seconds += time.monotonic() - round_started
            if problem := await loaded:
                f.stalls += 1
                f.violations.append(Violation(f"stall: {problem}", batch))
            stalled = await self._stall_check(http, batch)
            if not stalled:
                await self._follow_up(sender, http, batch)
            await self.log.catch_up()
            await self.streams.scan()
            follow_up = self.target.numbers.follow_up
            replies = self.target.sandbox.outbox.messages(phone_number_id=follow_up)
            self.pool.replies = [(m.wamid, m.to) for m in replies[-300:]]
            self.progress(
                f"  {sum(f.tried.values()):6d} inputs, {len(f.violations)} violations, "
                f"backlog drained in {f.drain_seconds[-1] if f.drain_seconds else 0:.1f} s, "
                f"demo reply {f.reply_seconds[-1] if f.reply_seconds else 0:.2f} s"
            )
            if stalled:
                break

    async def _send_all(self, sender: Sender, batch: list[Case]) -> None:
        gate = asyncio.Semaphore(self.settings.in_flight)

        async def one(case: Case) -> None:
            self._before_sending(case)
            async with gate:
                outcome = await sender.send(case)
            self.figures.count(case, outcome)
            accepted = outcome.answer == "200" and not outcome.violations
            if isinstance(case, WebhookCase) and case.valid_wamids and accepted:
                self._accepted_valid.update(case.valid_wamids)

        await asyncio.gather(*(one(case) for case in batch))

    def _before_sending(self, case: Case) -> None:
        if not isinstance(case, WebhookCase):
            return
        digest = body_digest(case.body)
        if case.signed:
            self.streams.signed_digests.add(digest)
            self.log.tracked.update(case.valid_wamids)
            if case.valid_wamids:
                self._valid_customers.update(senders(case.body))
        else:
            self.figures.unsigned_sent += 1
            self.streams.unsigned_digests.add(digest)
            self.streams.unsigned_wamids.update(case.unsigned_wamids)
            self.log.tracked.update(case.unsigned_wamids)

    async def _drain(self, suspects: list[Case]) -> bool:
        """Wait until the platform has done the work the round gave it; False when some
        consumer still has work after `drain_seconds` (a stall, unless the bound is too low)."""
        started = time.monotonic()
        while backlog := await self.streams.backlog():
            if time.monotonic() - started > self.settings.drain_seconds:
                left = ", ".join(
                    f"{name} {p} pending/{a} unacked" for name, (p, a) in backlog.items()
                )
                self.figures.violations.append(
                    Violation(f"stall: after {self.settings.drain_seconds:.0f} s {left}", suspects)
                )
                return False
            await asyncio.sleep(0.25)
        self.figures.drain_seconds.append(time.monotonic() - started)
        return True

    async def _stall_check(self, http: aiohttp.ClientSession, suspects: list[Case]) -> bool:
        f = self.figures
        drained = await self._drain(suspects)
        f.stall_checks += 1
        problem = await self.stall.run(http)
        self.log.tracked.update(self.stall.wamids)
        f.reply_seconds, f.read_model_seconds = (
            self.stall.reply_seconds,
            self.stall.read_model_seconds,
        )
        f.under_load_seconds = self.stall.under_load_seconds
        if problem is None and drained:
            return False
        f.stalls += 1
        if problem is None:
            return True
        f.violations.append(Violation(f"stall: {problem}", suspects))
        return True

    async def _follow_up(
        self, sender: Sender, http: aiohttp.ClientSession, batch: list[Case]
    ) -> None:
        """Customers of this round who sent hostile input write normally: still answered, and
        their conversations readable through the gateway."""
        f = self.figures
        customers = sorted(
            {c.customer for c in batch if isinstance(c, WebhookCase) and c.customer and c.signed}
        )
        for customer in self._mix.sample(customers, k=min(2, len(customers))):
            f.follow_ups += 1
            problem, conversations = await self.stall.follow_up(http, customer)
            self.log.tracked.update(self.stall.wamids)
            suspects: list[Case] = [
                c for c in batch if isinstance(c, WebhookCase) and c.customer == customer
            ]
            if problem is not None:
                f.follow_ups_unanswered += 1
                f.violations.append(Violation(problem, suspects))
            number = self.target.numbers.follow_up
            reads = [f"/api/crm/{customer}/session-status?business_number={number}"]
            for conversation in conversations:
                reads += [
                    f"/api/v1/conversations/{conversation}",
                    f"/api/v1/conversations/{conversation}/messages",
                ]
            for path in reads:
                read = HttpCase(
                    "follow_up", "GET", path.encode(), note=f"customer {customer}", expect_ok=True
                )
                f.count(read, await sender.send(read), related=suspects)

    async def _valid_in_read_models(self, wamids: list[str], sample: int = 100) -> None:
        """A sample of the valid messages, each found in its customer's conversations."""
        f = self.figures
        chosen = self._mix.sample(wamids, k=min(sample, len(wamids)))
        by_customer: dict[str, set[str]] = {}
        for wamid in chosen:
            by_customer.setdefault(self._valid_customers.get(wamid, ""), set()).add(wamid)
        f.read_model_sample = len(chosen)
        for wa_id, expected in by_customer.items():
            view = await wait_for_wamids(
                self.target, wa_id, expected, seconds=self.settings.stall_seconds
            )
            f.in_read_models += len(expected & view.wamids)
            for wamid in sorted(expected - view.wamids):
                f.violations.append(
                    Violation(f"valid message {wamid} from {wa_id} is not in the read models")
                )

    async def _settle(self) -> None:
        """Wait for every accepted valid message to be stored, then judge the whole run."""
        f = self.figures
        expected = self._accepted_valid | self.stall.wamids
        deadline = time.monotonic() + self.settings.settle_seconds
        while True:
            await self.log.catch_up()
            if all(self.log.counts[w] >= 1 for w in expected) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1.0)
        await self.streams.scan()
        f.events_read, f.scanned = self.log.events, self.streams.scanned
        f.dead_letters, f.dead_reasons = self.streams.dead_letters, self.streams.dead_reasons
        await self._valid_in_read_models(sorted(self._accepted_valid))
        f.valid_expected = len(expected)
        f.valid_once = sum(1 for w in expected if self.log.counts[w] == 1)
        for wamid in sorted(expected):
            seen = self.log.counts[wamid]
            if seen != 1:
                f.violations.append(
                    Violation(f"valid message {wamid} stored {seen} times, not once")
                )
        for wamid in sorted(self.streams.unsigned_wamids):
            if self.log.counts[wamid]:
                f.violations.append(Violation(f"unsigned message {wamid} was stored"))
        f.violations += [Violation(found) for found in self.streams.found]
        f.violations += [Violation(failure) for failure in self.log.failures]


def senders(body: bytes) -> dict[str, str]:
    """wamid -> `from` of every message of a (valid) webhook body."""
    document = json.loads(body)
    return {
        message["id"]: message["from"]
        for entry in document["entry"]
        for change in entry["changes"]
        for message in change["value"].get("messages", [])
    }
