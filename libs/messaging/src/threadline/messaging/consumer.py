"""A durable pull consumer that hands batches to a handler and acks only what it committed.

The handler returns one `Settlement` per delivery. `ACK` is acked; `Retry` is redelivered with
back-off (and jitter) until `max_deliver` deliveries, then dead-lettered with its reason;
`DeadLetter` goes to `DEAD_LETTERS` at once. Nothing blocks behind a message that keeps failing:

- A handler that raises (or answers with the wrong number of outcomes) for a batch gets each
  message of it alone, so one poison message cannot take its batch down with it; an error
  raised for one message alone is classified (`failures.classify`): permanent → dead-lettered,
  transient → retried.
- A dependency that is unavailable (the database or NATS away) is waited out with back-off:
  the batch is handled again once it is back, neither retried to death nor dead-lettered, and
  kept in progress meanwhile so the server does not hand it to anyone else.
- The server never gives up on a message by itself (`max_deliver` is unlimited there); this
  loop decides. A message delivered `unsettled_limit` times without ever being settled (its
  handler crashed the process every time) is dead-lettered without being handled again.
- A failed ack, nak or dead letter is logged and the message comes back later; a failed fetch
  subscribes again after a back-off. The loop itself only stops when asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from threadline.messaging.bus import EventBus
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.failures import Backoff, Failure, classify, describe, jittered
from threadline.messaging.pulls import BatchPuller
from threadline.messaging.topology import Durable, Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the handler sees it."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    stream_sequence: int
    num_delivered: int
    # When the stream stored the message (the server's clock); None where no stream did.
    stored_at: datetime | None = None


class Ack:
    """The effect is committed: acknowledge."""


ACK = Ack()


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient failure: deliver again later."""

    reason: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A permanent failure: move to DEAD_LETTERS with the reason and go on."""

    reason: str
    slug: str = "rejected"


Settlement = Ack | Retry | DeadLetter
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Sequence[Settlement]]]
MessageHandler = Callable[[Delivery], Awaitable[Settlement]]


class Unavailable(Exception):
    """Raised by a handler: a dependency is away; handle the same batch again later."""


def settlement_of(error: BaseException) -> Settlement:
    """What a message whose handling raised `error` becomes, by the kind of failure."""
    if classify(error) is Failure.PERMANENT:
        return DeadLetter(describe(error), slug="poison")
    return Retry(describe(error))


def one_at_a_time(handler: MessageHandler) -> BatchHandler:
    """Adapt a per-message handler; a raising message fails alone, not the batch: dead-lettered
    at once when the error is permanent, retried when it may pass. A dependency that is
    unavailable raises `Unavailable`, so the loop waits and the batch is handled again."""

    async def handle(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        return [await _settled(handler, delivery) for delivery in batch]

    return handle


def concurrently_by_key(
    handler: MessageHandler, *, key_of: Callable[[Delivery], str], limit: int
) -> BatchHandler:
    """As `one_at_a_time`, but deliveries with different keys (e.g. conversations) are
    handled concurrently, at most `limit` at once, and those with the same key in their
    order: for a handler that waits on I/O (a model, another service) per message."""

    async def handle(batch: Sequence[Delivery]) -> Sequence[Settlement]:
        slots = asyncio.Semaphore(limit)
        outcomes: list[Settlement | None] = [None] * len(batch)
        groups: dict[str, list[int]] = {}
        for index, delivery in enumerate(batch):
            groups.setdefault(key_of(delivery), []).append(index)

        async def in_order(indices: list[int]) -> None:
            for index in indices:
                async with slots:
                    outcomes[index] = await _settled(handler, batch[index])

        results = await asyncio.gather(
            *(in_order(indices) for indices in groups.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result  # `Unavailable`: the loop waits and handles the batch again
        return [outcome for outcome in outcomes if outcome is not None]

    return handle


async def _settled(handler: MessageHandler, delivery: Delivery) -> Settlement:
    """The handler's settlement; a raising message fails alone (dead-lettered at once when the
    error is permanent, retried when it may pass), an unavailable dependency raises
    `Unavailable` for the whole batch."""
    try:
        return await handler(delivery)
    except Exception as error:
        if classify(error) is Failure.UNAVAILABLE:
            raise Unavailable(describe(error)) from error
        log.exception("handler failed on %s", delivery.subject)
        return settlement_of(error)


@dataclass
class ConsumerSettings:
    stream: str
    durable: str
    filter_subject: str
    # The subjects needed within `filter_subject`, for a server that filters on several
    # (NATS 2.10+); empty: all of `filter_subject`.
    only: tuple[str, ...] = ()
    batch_size: int = 256
    # At most this many bytes a batch (at least twice the largest message NATS accepts, so
    # every message fits in one): 256 messages of a megabyte would otherwise be held at once.
    batch_bytes: int = 16 * 1024 * 1024
    max_deliver: int = 5
    backoff: Sequence[float] = (0.2, 1.0, 5.0, 15.0)
    fetch_timeout: float = 1.0
    ack_wait: float = 30.0
    # Waiting out an unavailable dependency, and a fetch or subscribe that failed.
    wait: Backoff = field(default_factory=lambda: Backoff(first=0.2, limit=15.0))
    # Deliveries after which a message never settled is dead-lettered unhandled.
    unsettled_limit: int = 20
    # While idle, how often to check that the consumer still exists (fetches from a deleted
    # one just time out); a missing one is made again.
    check_interval: float = 30.0

    @classmethod
    def of(cls, topology: Topology, durable: Durable, **options: Any) -> ConsumerSettings:
        """The settings of `durable` from the topology table (stream, name, filter), with
        `options` for the rest (batch size, redelivery, ack wait, ...)."""
        return cls(
            stream=topology.stream(durable.stream),
            durable=durable.name,
            filter_subject=topology.filter_subject(durable),
            only=topology.narrowed(durable),
            **options,
        )


def filters_several(js: JetStreamContext) -> bool:
    """Whether the server `js` is connected to can bind a consumer to several subjects
    (`filter_subjects`: NATS 2.10 and later). nats-py's JetStream context offers its
    connection only as `_nc`."""
    version = js._nc.connected_server_version
    return (version.major, version.minor) >= (2, 10)


@dataclass
class ConsumerLoop:
    """Fetch, handle, ack — until stopped."""

    js: JetStreamContext
    dead_letters: EventBus
    topology: Topology
    service: str
    settings: ConsumerSettings
    handler: BatchHandler
    # Called after each batch handled is settled (its acknowledgements sent): for whoever
    # follows the durable's progress (the AI responder's bursts wait for it).
    settled: Callable[[], None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Consume until `stop`; trouble with NATS is waited out, never fatal."""
        attempt = 0
        while not self._stopping.is_set():
            try:
                subscription = await self._subscribe()
            except Exception as error:
                attempt = await self._pause("subscribing", error, attempt)
                continue
            try:
                attempt = 0
                await self._consume(subscription)
            except Exception as error:
                attempt = await self._pause("fetching", error, attempt)
            finally:
                with contextlib.suppress(Exception):
                    await subscription.close()

    async def _subscribe(self) -> BatchPuller:
        s = self.settings
        several = bool(s.only) and filters_several(self.js)
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=None if several else s.filter_subject,
            filter_subjects=list(s.only) if several else None,
            # Unlimited: the server would otherwise stop delivering a message silently; this
            # loop dead-letters instead (after `max_deliver` retries, or `unsettled_limit`).
            max_deliver=-1,
            ack_wait=s.ack_wait,
            max_ack_pending=max(s.batch_size * 8, 1000),
        )
        # Create, or update a consumer made by an earlier version (limits are editable, and
        # filters too from NATS 2.10).
        await self.js.add_consumer(s.stream, config)
        subscription = await BatchPuller.open(self.js, stream=s.stream, durable=s.durable)
        log.info(
            "consuming %s as %s", ", ".join(s.only) if several else s.filter_subject, s.durable
        )
        return subscription

    async def _consume(self, subscription: BatchPuller) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        checked = asyncio.get_running_loop().time()
        try:
            while not self._stopping.is_set():
                s = self.settings
                fetch = asyncio.ensure_future(
                    subscription.fetch(
                        s.batch_size, timeout=s.fetch_timeout, max_bytes=self._batch_bytes()
                    )
                )
                # A stop does not wait for an idle fetch to time out; a batch being handled
                # is always finished and settled first.
                await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, NatsTimeoutError):
                        await fetch
                    return
                try:
                    messages = fetch.result()
                except (TimeoutError, NatsTimeoutError):
                    now = asyncio.get_running_loop().time()
                    if now - checked >= self.settings.check_interval:
                        checked = now
                        await self.js.consumer_info(s.stream, s.durable)  # raises if gone
                    continue
                await self._process(messages)
        finally:
            stopping.cancel()

    async def _pause(self, doing: str, error: Exception, attempt: int) -> int:
        delay = self.settings.wait.delay(attempt)
        what = self.settings.durable
        log.warning("%s %s failed (%s); again in %.1fs", what, doing, describe(error), delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
        return attempt + 1

    def stop(self) -> None:
        self._stopping.set()

    def _batch_bytes(self) -> int:
        """`batch_bytes`, raised to twice the connected server's `max_payload` when that is
        larger (nats-py offers the connection only as `_nc`)."""
        return max(self.settings.batch_bytes, 2 * self.js._nc.max_payload)

    async def _process(self, messages: list[Msg]) -> None:
        pairs: list[tuple[Msg, Delivery]] = []
        for message in messages:
            try:
                pairs.append((message, _delivery(message)))
            except Exception as error:  # not a JetStream delivery we can read: never will be
                log.error("unreadable delivery on %s: %s", message.subject[:200], describe(error))
                with contextlib.suppress(Exception):
                    await message.term()
        unsettled = [(m, d) for m, d in pairs if d.num_delivered > self.settings.unsettled_limit]
        if unsettled:
            await asyncio.gather(*(self._give_up(m, d) for m, d in unsettled))
            pairs = [(m, d) for m, d in pairs if d.num_delivered <= self.settings.unsettled_limit]
        if not pairs:
            return
        async with self._in_progress([m for m, _ in pairs]):
            outcomes = await self._handle([d for _, d in pairs])
        if outcomes is None:  # stopped while a dependency was away: let it come back later
            await asyncio.gather(*(self._nak(m, 0.0) for m, _ in pairs))
            return
        await asyncio.gather(
            *(self._settle(m, d, o) for (m, d), o in zip(pairs, outcomes, strict=True))
        )
        if self.settled is not None:
            try:
                self.settled()
            except Exception:  # a follower's trouble never stops the consumer
                log.exception("%s: telling that a batch was settled failed", self.settings.durable)

    async def _handle(self, batch: list[Delivery]) -> list[Settlement] | None:
        """The outcomes of `batch`; None when stopped while waiting for a dependency."""
        attempt = 0
        while True:
            try:
                outcomes = list(await self.handler(batch))
            except Exception as error:
                if self._unavailable(error):
                    if self._stopping.is_set():
                        return None
                    attempt = await self._pause("handling", error, attempt)
                    continue
                log.exception("batch handler failed on %d messages", len(batch))
                if len(batch) == 1:
                    return [settlement_of(error)]
            else:
                if len(outcomes) == len(batch):
                    return outcomes
                problem = f"handler returned {len(outcomes)} outcomes for {len(batch)}"
                log.error("%s; handling each message alone", problem)
                if len(batch) == 1:
                    return [Retry(problem)]
            return [await self._handle_alone(delivery) for delivery in batch]

    async def _handle_alone(self, delivery: Delivery) -> Settlement:
        attempt = 0
        while True:
            try:
                outcomes = list(await self.handler([delivery]))
            except Exception as error:
                if self._unavailable(error) and not self._stopping.is_set():
                    attempt = await self._pause("handling", error, attempt)
                    continue
                log.exception("handler failed on %s", delivery.subject)
                return settlement_of(error)
            if len(outcomes) != 1:
                return Retry(f"handler returned {len(outcomes)} outcomes for 1")
            return outcomes[0]

    @staticmethod
    def _unavailable(error: BaseException) -> bool:
        return isinstance(error, Unavailable) or classify(error) is Failure.UNAVAILABLE

    @contextlib.asynccontextmanager
    async def _in_progress(self, messages: list[Msg]) -> AsyncIterator[None]:
        """While a batch is handled, tell the server so every third of `ack_wait`: a slow
        batch (a database being waited for) is not redelivered to another instance."""
        interval = max(self.settings.ack_wait / 3, 0.5)

        async def keep_alive() -> None:
            while True:
                await asyncio.sleep(interval)
                for message in messages:
                    with contextlib.suppress(Exception):
                        await message.in_progress()

        task = asyncio.create_task(keep_alive())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _settle(self, message: Msg, delivery: Delivery, outcome: Settlement) -> None:
        if isinstance(outcome, Ack):
            await self._ack(message)
            return
        if isinstance(outcome, Retry) and delivery.num_delivered < self.settings.max_deliver:
            backoff = self.settings.backoff
            delay = backoff[min(delivery.num_delivered, len(backoff)) - 1] if backoff else 0
            await self._nak(message, jittered(delay))
            return
        slug = outcome.slug if isinstance(outcome, DeadLetter) else "max_deliver"
        await self._dead_letter(message, delivery, slug, outcome.reason)

    async def _give_up(self, message: Msg, delivery: Delivery) -> None:
        reason = (
            f"delivered {delivery.num_delivered} times without being settled"
            " (its handling never finished: did it crash the process?)"
        )
        log.error("%s on %s: %s", self.settings.durable, delivery.subject[:200], reason)
        await self._dead_letter(message, delivery, "unsettled", reason)

    async def _dead_letter(self, message: Msg, delivery: Delivery, slug: str, reason: str) -> None:
        try:
            await dead_letter(
                self.dead_letters,
                self.topology,
                service=self.service,
                slug=slug,
                reason=reason,
                subject=delivery.subject,
                data=delivery.data,
                headers=delivery.headers,
                stream=self.settings.stream,
                sequence=delivery.stream_sequence,
            )
        except Exception as error:
            if classify(error) is Failure.PERMANENT:
                # Neither handled nor storable as a dead letter: stop redelivering it, and say
                # where it stays (the stream keeps it until its limits remove it).
                log.error(
                    "cannot dead-letter %s (stream sequence %d, %s): %s; terminated",
                    delivery.subject[:200],
                    delivery.stream_sequence,
                    reason[:200],
                    describe(error),
                )
                with contextlib.suppress(Exception):
                    await message.term()
                return
            log.warning("dead-lettering failed (%s); it comes back later", describe(error))
            await self._nak(message, jittered(self.settings.wait.limit))
            return
        await self._ack(message)

    async def _ack(self, message: Msg) -> None:
        try:
            await message.ack()
        except Exception as error:
            # The effect is committed; the message comes back after `ack_wait` and handlers
            # are idempotent, so it changes nothing the second time.
            log.warning("ack failed (%s); the message will be redelivered", describe(error))

    async def _nak(self, message: Msg, delay: float) -> None:
        try:
            await message.nak(delay=delay)
        except Exception as error:
            log.warning("nak failed (%s); redelivered after ack_wait", describe(error))


def _delivery(message: Msg) -> Delivery:
    metadata = message.metadata
    return Delivery(
        subject=message.subject,
        data=message.data,
        headers=dict(message.headers or {}),
        stream_sequence=metadata.sequence.stream,
        num_delivered=metadata.num_delivered,
        stored_at=metadata.timestamp,
    )
