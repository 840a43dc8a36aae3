"""Exactly one answer per burst of customer messages, with the state kept durably.

`BurstScheduler.on_customer_message` records a message in its conversation's burst (the store
keeps it before the message is acknowledged) and sets a timer in this process for the moment the
burst is due. `run()` wakes at each timer, claims the burst, and generates its answer with the
injected `answer`; then, if nothing changed since the
claim, hands the generation to `deliver` and forgets the answered messages; otherwise a message
arrived meanwhile (or another responder took over after the lease): the generation is stale,
given to `discard` (its cost is recorded) and the burst, now covering the new message too,
waits for the next round. The timers are only a shortcut: every `scan_seconds` (and at start)
`run()` also looks through the whole store for due bursts, so bursts whose responder restarted
or died (after the claim's lease) are answered by whoever is running. Restarts and several
responders share the store; nothing else lives in process memory but the work under way.

Several responders share the conversation events' durable, each with its own backlog, so one
may hear a customer's second message well after another heard the first. A message's moment is
therefore when the stream stored it (`at`), and a burst due at `due_at` is claimed only once
`heard_until` (the durable's progress: `adapters/outbound/progress.py`) has passed it, i.e.
once every message stored before then has been heard by someone. Without that, the burst would
be answered without the message still in another responder's backlog, and the generation
discarded when it arrived.

An `answer` that raises is logged and the claim left to expire: the burst is tried again after
the lease, which is the retry's backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from threadline.ai_responder.application.burst_ports import BurstStore, StoredBurst
from threadline.ai_responder.domain.burst import (
    DEFAULT_DELAY,
    DEFAULT_LEASE,
    DEFAULT_MAX_WAIT,
    Burst,
)
from threadline.messaging.failures import Failure, classify, describe

log = logging.getLogger(__name__)

G = TypeVar("G")

SCAN_SECONDS = 5.0  # how often the whole store is looked through (the timers cover the rest)
MAX_AT_ONCE = 256  # answers generated at the same time by one responder (waiting on models)
LOOK_AT_ONCE = 32  # due bursts read and claimed in the store together
RETRY_SECONDS = 2.0  # after a failure to answer (NATS out of reach, ...)
# How often timers that are up are looked at again while they wait: for the rest of their
# burst to be heard (`heard_until`), or for room among the answers under way.
WAITING_POLL_SECONDS = 0.05


class NotReady(Exception):
    """Raised by `answer`: the burst cannot be answered yet (a voice note's transcript is on
    its way); look again in `seconds`. Not a failure."""

    def __init__(self, why: str, seconds: float = 1.0) -> None:
        super().__init__(why)
        self.seconds = seconds


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BurstScheduler(Generic[G]):
    def __init__(
        self,
        store: BurstStore,
        *,
        answer: Callable[[Burst], Awaitable[G]],
        deliver: Callable[[Burst, G], Awaitable[None]],
        discard: Callable[[Burst, G], Awaitable[None]],
        clock: Callable[[], datetime] = _utc_now,
        delay: timedelta = DEFAULT_DELAY,
        max_wait: timedelta = DEFAULT_MAX_WAIT,
        lease: timedelta = DEFAULT_LEASE,
        scan_seconds: float = SCAN_SECONDS,
        max_at_once: int = MAX_AT_ONCE,
        owner: str = "",
        heard_until: Callable[[], Awaitable[datetime]] | None = None,
        waiting_poll: float = WAITING_POLL_SECONDS,
    ) -> None:
        self._store = store
        self._answer = answer
        self._deliver = deliver
        self._discard = discard
        self._clock = clock
        self._delay = delay
        self._max_wait = max_wait
        self._lease = lease
        self._scan_seconds = scan_seconds
        self._max_at_once = max_at_once
        self._heard_until = heard_until
        self._waiting_poll = waiting_poll
        self.owner = owner or f"ai-responder-{uuid.uuid4().hex[:12]}"
        self._working: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, datetime] = {}  # conversation id -> when to look at its burst
        # conversation id -> the moment that must be heard before its timer is acted on (the
        # burst's due moment, for a timer set for it; none for a retry or a look after work)
        self._heard_first: dict[str, datetime] = {}
        # The context (trace) of each conversation's latest message heard here: its answer is
        # generated in it, so the reply continues the customer message's trace.
        self._contexts: dict[str, contextvars.Context] = {}
        self._wake = asyncio.Event()
        self._waiting = False  # timers are up but wait (to be heard, or for room)
        self._acknowledged = False  # events acknowledged here since `heard_until` was read
        self._stopping = False

    async def on_customer_message(
        self,
        conversation_id: str,
        message_id: str,
        *,
        delay: timedelta | None = None,
        at: datetime | None = None,
    ) -> Burst:
        """Record the message in its conversation's burst (waiting `delay`, the scheduler's
        own by default); returns once the store keeps it (acknowledge the message after this).
        `at`: when the stream stored it (now, by the scheduler's clock, when not given). A
        message already recorded changes nothing."""
        delay = self._delay if delay is None else delay
        stored = await self._store.add_message(
            conversation_id,
            message_id,
            self._clock() if at is None else at,
            delay=delay,
            max_wait=max(self._max_wait, delay),
        )
        if stored.burst.due_at is not None:
            self._contexts[conversation_id] = contextvars.copy_context()
            self._arm(conversation_id, stored.burst.due_at, heard_by=stored.burst.due_at)
        return stored.burst

    def acknowledged(self) -> None:
        """This process acknowledged events of the durable `heard_until` follows (its consumer
        settled a batch): timers waiting for their bursts to be heard are looked at again
        at once, not at the next poll (with no reply delay, that wait was most of a reply's
        time at light load: issue 15). `heard_until` must read the server again after this
        (`DurableProgress.acknowledged`)."""
        self._acknowledged = True
        if self._waiting:
            self._wake.set()

    def stop(self) -> None:
        """Ask `run` to end: it takes no new burst and returns once the answers under way are
        done (cancelling `run` instead gives their claims up at once)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Answer due bursts until stopped or cancelled."""
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        next_scan = loop.time()
        try:
            while not self._stopping:
                if loop.time() >= next_scan:
                    next_scan = loop.time() + self._scan_seconds
                    try:
                        await self.answer_due()
                    except Exception as error:
                        _log_failure("looking for due bursts", error)
                try:
                    await self._answer_timed()
                except Exception as error:
                    _log_failure("answering the bursts that are due", error)
                if me is not None and me.cancelling():
                    # Python 3.11's wait_for (inside the NATS client) can swallow a
                    # cancellation that races a reply: honour it anyway.
                    raise asyncio.CancelledError
                await self._sleep(until_scan=next_scan - loop.time())
            await asyncio.gather(*self._working.values(), return_exceptions=True)
        finally:
            working = list(self._working.values())
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)

    async def answer_due(self) -> None:
        """Look through every waiting burst: claim the due ones this responder has room for
        and start answering them; set a timer for the others (when they will be due, or when
        the claim of whoever answers them runs out)."""
        now = self._clock()
        waiting = await self._store.pending()
        heard = await self._heard(now)
        for stored in sorted(waiting, key=lambda s: s.burst.due_at or now):
            if stored.key in self._working:
                continue
            burst = stored.burst
            if (
                burst.is_due(now, self._lease, heard_until=heard)
                and len(self._working) < self._max_at_once
            ):
                await self._start(stored)
            else:
                self._look_later(stored.key, burst, now, heard)

    async def _heard(self, now: datetime) -> datetime:
        """The moment before which every customer message has been heard (`now` without a
        `heard_until`, or when it cannot be told: answering as before beats not answering)."""
        if self._heard_until is None:
            return now
        try:
            return await self._heard_until()
        except Exception as error:
            _log_failure("telling how far the customer messages have been heard", error)
            return now

    def _look_later(self, key: str, burst: Burst, now: datetime, heard: datetime) -> None:
        """Set the timer of a burst that cannot be answered now."""
        due_at, claim = burst.due_at or now, burst.claim
        if due_at > now or due_at > heard:
            # when due, and once everything sent before then has been heard
            self._arm(key, due_at, heard_by=due_at)
        elif claim is not None and not claim.expired(now, self._lease):
            self._arm(key, claim.claimed_at + self._lease)  # take over should its owner die
        else:
            self._arm(key, now + timedelta(seconds=self._scan_seconds))  # no room here yet

    async def _start(self, stored: StoredBurst) -> bool:
        """Claim the burst and start answering it; False when someone else was first."""
        claimed = await self._store.claim(stored, self.owner, self._clock())
        if claimed is None:  # another responder, or a new message, was first
            return False
        task = asyncio.create_task(
            self._work(claimed),
            name=f"burst {stored.key}",
            context=self._contexts.pop(stored.key, None),
        )
        self._working[stored.key] = task
        task.add_done_callback(self._forget(stored.key))
        return True

    def _forget(self, key: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            self._working.pop(key, None)
            # A message may have come while the answer was under way: look again at once.
            self._arm(key, self._clock())

        return forget

    def _arm(self, key: str, at: datetime, *, heard_by: datetime | None = None) -> None:
        """Look at the burst of `key` at `at` (or earlier, when already set to), and not before
        everything stored before `heard_by` has been heard."""
        current = self._timers.get(key)
        if current is None or at < current:
            self._timers[key] = at
            if heard_by is None:
                self._heard_first.pop(key, None)
            else:
                self._heard_first[key] = heard_by
            self._wake.set()

    def _disarm(self, key: str) -> None:
        del self._timers[key]
        self._heard_first.pop(key, None)

    async def _sleep(self, *, until_scan: float) -> None:
        """Until the next timer, the next scan, or a new timer, whichever comes first; timers
        that are up but wait are looked at again every `waiting_poll`, or at once when this
        process acknowledged events since they were (`acknowledged`)."""
        seconds = max(0.0, until_scan)
        if self._timers:
            soonest = (min(self._timers.values()) - self._clock()).total_seconds()
            if soonest <= 0:  # up already: waiting, or set since they were looked at
                waits = self._waiting and not self._acknowledged
                soonest = self._waiting_poll if waits else 0.0
            seconds = min(seconds, soonest)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _answer_timed(self) -> None:
        """Claim and start the bursts whose timers are up (a burst that is not due after all
        is looked at again when it will be). Each is a read and a claim in the store, two
        round trips: up to `LOOK_AT_ONCE` bursts are looked at together, so many falling due
        at once (500 conversations answered together) do not wait on each other's. A timer
        set for a due moment not yet heard waits, without reading the store."""
        now = self._clock()
        up = [key for key, at in self._timers.items() if at <= now]
        self._waiting = False
        self._acknowledged = False  # what was acknowledged before now is read below
        if not up:
            return
        heard = await self._heard(now)
        due: list[str] = []
        for key in up:
            if key not in self._timers:
                continue
            if key in self._working:  # looked at again when that answer is done
                self._disarm(key)
                continue
            unheard = self._heard_first.get(key, heard) > heard
            if unheard or len(self._working) + len(due) >= self._max_at_once:
                self._waiting = True  # for the rest of its burst to be heard, or for room
                continue
            self._disarm(key)
            due.append(key)
        for first in range(0, len(due), LOOK_AT_ONCE):
            await asyncio.gather(
                *(self._look_at(key, now, heard) for key in due[first : first + LOOK_AT_ONCE])
            )

    async def _look_at(self, key: str, now: datetime, heard: datetime) -> None:
        try:
            stored = await self._store.read(key)
        except Exception as error:
            log.warning("could not read the burst of %s (%r); trying again", key, error)
            self._arm(key, now + timedelta(seconds=1))
            return
        if stored is None or not stored.burst.pending:
            self._contexts.pop(key, None)
            return
        if not stored.burst.is_due(now, self._lease, heard_until=heard):
            self._look_later(key, stored.burst, now, heard)
            return
        try:
            await self._start(stored)
        except Exception as error:
            log.warning("could not claim the burst of %s (%r); trying again", key, error)
            self._arm(key, now + timedelta(seconds=1))

    async def _work(self, claimed: StoredBurst) -> None:
        burst = claimed.burst
        generation = claimed.burst.generations
        try:
            result = await self._answer(burst)
        except asyncio.CancelledError:
            await _quietly(self._store.release(claimed))
            raise
        except NotReady as waiting:
            log.debug("the burst of %s waits: %s", burst.conversation_id, waiting)
            await _quietly(self._store.release(claimed))
            self._arm(claimed.key, self._clock() + timedelta(seconds=waiting.seconds))
            return
        except Exception as error:
            await self._retry_soon(claimed, f"answering (generation {generation})", error)
            return
        try:
            current = await self._store.still_current(claimed)
        except Exception as error:
            await self._retry_soon(claimed, "telling whether the burst changed", error)
            return
        if not current:
            log.info(
                "a message arrived while answering %s: generation %d discarded",
                burst.conversation_id,
                generation,
            )
            await _logged(self._discard(burst, result), "recording a discarded generation")
            return
        try:
            await self._deliver(burst, result)
        except Exception as error:
            # Answered again: the answer's ids derive from the burst, so what was delivered
            # before the failure is not delivered twice.
            await self._retry_soon(claimed, "delivering the answer", error)
            return
        # Should this fail, the lease expires and the burst is answered again: at least once.
        await _logged(self._store.finish(claimed), "forgetting the answered burst")

    async def _retry_soon(self, claimed: StoredBurst, what: str, error: Exception) -> None:
        """Give the claim up and look at the burst again in `RETRY_SECONDS` (were the claim
        not given up, it runs out after the lease)."""
        _log_failure(f"{what} for {claimed.key}", error)
        await _quietly(self._store.release(claimed))
        self._arm(claimed.key, self._clock() + timedelta(seconds=RETRY_SECONDS))


def _log_failure(what: str, error: Exception) -> None:
    """A dependency out of reach (NATS restarting, ...) is a warning: it passes, and the work
    is tried again; anything else is an error with its traceback."""
    if classify(error) is Failure.UNAVAILABLE or isinstance(error, TimeoutError):
        log.warning("%s failed (%s); trying again", what, describe(error))
    else:
        log.exception("%s failed; trying again", what)


async def _quietly(work: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(work, 2.0)
    except Exception as error:
        log.warning("could not give a burst's claim up: %s", error)


async def _logged(work: Awaitable[None], what: str) -> None:
    try:
        await work
    except Exception as error:
        _log_failure(what, error)
