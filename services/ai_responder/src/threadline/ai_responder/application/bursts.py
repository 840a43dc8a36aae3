"""Exactly one answer per burst of customer messages, with the state kept durably.

`BurstScheduler.on_customer_message` records a message in its conversation's burst (the store
keeps it before the message is acknowledged). `run()` polls the store for due bursts, claims
one, and generates its answer with the injected `answer`; then, if nothing changed since the
claim, hands the generation to `deliver` and forgets the answered messages; otherwise a message
arrived meanwhile (or another responder took over after the lease): the generation is stale,
given to `discard` (its cost is recorded) and the burst, now covering the new message too,
waits for the next round. Nothing lives in process memory but the work under way: restarts and
several responders share the store, and the claim's lease replaces a responder that died.

An `answer` that raises is logged and the claim left to expire: the burst is tried again after
the lease, which is the retry's backoff.
"""

from __future__ import annotations

import asyncio
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

log = logging.getLogger(__name__)

G = TypeVar("G")

POLL_SECONDS = 0.2
MAX_AT_ONCE = 8  # answers generated at the same time by one responder


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
        poll_seconds: float = POLL_SECONDS,
        max_at_once: int = MAX_AT_ONCE,
        owner: str = "",
    ) -> None:
        self._store = store
        self._answer = answer
        self._deliver = deliver
        self._discard = discard
        self._clock = clock
        self._delay = delay
        self._max_wait = max_wait
        self._lease = lease
        self._poll_seconds = poll_seconds
        self._max_at_once = max_at_once
        self.owner = owner or f"ai-responder-{uuid.uuid4().hex[:12]}"
        self._working: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def on_customer_message(self, conversation_id: str, message_id: str) -> Burst:
        """Record the message in its conversation's burst; returns once the store keeps it
        (acknowledge the message after this). A message already recorded changes nothing."""
        stored = await self._store.add_message(
            conversation_id,
            message_id,
            self._clock(),
            delay=self._delay,
            max_wait=self._max_wait,
        )
        return stored.burst

    def stop(self) -> None:
        """Ask `run` to end: it takes no new burst and returns once the answers under way are
        done (cancelling `run` instead gives their claims up at once)."""
        self._stopping = True

    async def run(self) -> None:
        """Answer due bursts until stopped or cancelled."""
        me = asyncio.current_task()
        try:
            while not self._stopping:
                try:
                    await self.answer_due()
                except Exception:
                    log.exception("could not look for due bursts; trying again")
                if me is not None and me.cancelling():
                    # Python 3.11's wait_for (inside the NATS client) can swallow a
                    # cancellation that races a reply: honour it anyway.
                    raise asyncio.CancelledError
                await asyncio.sleep(self._poll_seconds)
            await asyncio.gather(*self._working.values(), return_exceptions=True)
        finally:
            working = list(self._working.values())
            for task in working:
                task.cancel()
            await asyncio.gather(*working, return_exceptions=True)

    async def answer_due(self) -> None:
        """Claim the due bursts this responder has room for and start answering them."""
        room = self._max_at_once - len(self._working)
        if room <= 0:
            return
        for stored in await self._store.due(self._clock(), self._lease):
            if room <= 0:
                break
            if stored.key in self._working:
                continue
            claimed = await self._store.claim(stored, self.owner, self._clock())
            if claimed is None:  # another responder, or a new message, was first
                continue
            room -= 1
            task = asyncio.create_task(self._work(claimed), name=f"burst {stored.key}")
            self._working[stored.key] = task
            task.add_done_callback(self._forget(stored.key))

    def _forget(self, key: str) -> Callable[[asyncio.Task[None]], None]:
        def forget(_: asyncio.Task[None]) -> None:
            self._working.pop(key, None)

        return forget

    async def _work(self, claimed: StoredBurst) -> None:
        burst = claimed.burst
        generation = claimed.burst.generations
        try:
            result = await self._answer(burst)
        except asyncio.CancelledError:
            await _quietly(self._store.release(claimed))
            raise
        except Exception:
            log.exception(
                "answering the burst of %s (generation %d) failed; tried again after the lease",
                burst.conversation_id,
                generation,
            )
            return
        try:
            current = await self._store.still_current(claimed)
        except Exception:
            log.exception("could not tell whether the burst of %s changed", burst.conversation_id)
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
        except Exception:
            log.exception(
                "delivering the answer to %s failed; tried again after the lease",
                burst.conversation_id,
            )
            return
        # Should this fail, the lease expires and the burst is answered again: at least once.
        await _logged(self._store.finish(claimed), "forgetting the answered burst")


async def _quietly(work: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(work, 2.0)
    except Exception as error:
        log.warning("could not give a burst's claim up: %s", error)


async def _logged(work: Awaitable[None], what: str) -> None:
    try:
        await work
    except Exception:
        log.exception("%s failed", what)
