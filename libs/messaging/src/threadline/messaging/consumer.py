"""A durable pull consumer that hands batches to a handler and acks only what it committed.

The handler returns one `Outcome` per delivery. `ACK` is acked; `Retry` is redelivered with
back-off until `max_deliver` deliveries, then dead-lettered with its reason; `DeadLetter` goes
to `DEAD_LETTERS` at once. A handler that raises retries the whole batch. The stream always moves
on: nothing blocks behind a message that keeps failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from threadline.messaging.bus import EventBus
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.topology import Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the handler sees it."""

    subject: str
    data: bytes
    headers: Mapping[str, str]
    stream_sequence: int
    num_delivered: int


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


Outcome = Ack | Retry | DeadLetter
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[Sequence[Outcome]]]
MessageHandler = Callable[[Delivery], Awaitable[Outcome]]


def one_at_a_time(handler: MessageHandler) -> BatchHandler:
    """Adapt a per-message handler; a raising message retries alone, not the batch."""

    async def handle(batch: Sequence[Delivery]) -> Sequence[Outcome]:
        outcomes: list[Outcome] = []
        for delivery in batch:
            try:
                outcomes.append(await handler(delivery))
            except Exception as error:
                log.exception("handler failed on %s", delivery.subject)
                outcomes.append(Retry(f"{type(error).__name__}: {error}"))
        return outcomes

    return handle


@dataclass
class ConsumerSettings:
    stream: str
    durable: str
    filter_subject: str
    batch_size: int = 256
    max_deliver: int = 5
    backoff: Sequence[float] = (0.2, 1.0, 5.0, 15.0)
    fetch_timeout: float = 1.0
    drain_timeout: float = 0.005
    ack_wait: float = 30.0


@dataclass
class ConsumerLoop:
    """Fetch, handle, ack — until stopped."""

    js: JetStreamContext
    dead_letters: EventBus
    topology: Topology
    service: str
    settings: ConsumerSettings
    handler: BatchHandler
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        s = self.settings
        config = ConsumerConfig(
            durable_name=s.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=s.filter_subject,
            # One more than ours, so we dead-letter before the server gives up silently.
            max_deliver=s.max_deliver + 1,
            ack_wait=s.ack_wait,
            max_ack_pending=max(s.batch_size * 8, 1000),
        )
        subscription = await self.js.pull_subscribe(
            s.filter_subject, durable=s.durable, stream=s.stream, config=config
        )
        log.info("consuming %s as %s", s.filter_subject, s.durable)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                fetch = asyncio.ensure_future(self._fetch(subscription))
                # A stop does not wait for an idle fetch to time out; a batch being handled
                # is always finished and settled first.
                await asyncio.wait([fetch, stopping], return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():
                    fetch.cancel()
                    with contextlib.suppress(asyncio.CancelledError, NatsTimeoutError):
                        await fetch
                    break
                try:
                    messages = fetch.result()
                except (TimeoutError, NatsTimeoutError):
                    continue
                await self._process(messages)
        finally:
            stopping.cancel()
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _fetch(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """Wait for one message, then take whatever else is ready, up to the batch size.

        nats.py's `fetch(n)` waits, once the first message arrived, for the batch to fill or the
        timeout to pass: under light load every hop would cost the whole timeout. Waiting for
        one and then draining what is ready keeps latency low and batches large under load.
        """
        s = self.settings
        messages = await subscription.fetch(1, timeout=s.fetch_timeout)
        if s.batch_size > 1:
            with contextlib.suppress(NatsTimeoutError, asyncio.TimeoutError):
                messages += await subscription.fetch(s.batch_size - 1, timeout=s.drain_timeout)
        return messages

    def stop(self) -> None:
        self._stopping.set()

    async def _process(self, messages: list[Msg]) -> None:
        batch = [_delivery(m) for m in messages]
        try:
            outcomes = list(await self.handler(batch))
        except Exception as error:
            log.exception("batch handler failed on %d messages", len(batch))
            outcomes = [Retry(f"{type(error).__name__}: {error}")] * len(batch)
        if len(outcomes) != len(batch):
            raise RuntimeError(f"handler returned {len(outcomes)} outcomes for {len(batch)}")
        await asyncio.gather(
            *(self._settle(m, d, o) for m, d, o in zip(messages, batch, outcomes, strict=True))
        )

    async def _settle(self, message: Msg, delivery: Delivery, outcome: Outcome) -> None:
        if isinstance(outcome, Ack):
            await message.ack()
            return
        if isinstance(outcome, Retry) and delivery.num_delivered < self.settings.max_deliver:
            backoff = self.settings.backoff
            delay = backoff[min(delivery.num_delivered, len(backoff)) - 1] if backoff else 0
            await message.nak(delay=delay)
            return
        slug = outcome.slug if isinstance(outcome, DeadLetter) else "max_deliver"
        await dead_letter(
            self.dead_letters,
            self.topology,
            service=self.service,
            slug=slug,
            reason=outcome.reason,
            subject=delivery.subject,
            data=delivery.data,
            headers=delivery.headers,
            stream=self.settings.stream,
            sequence=delivery.stream_sequence,
        )
        await message.ack()


def _delivery(message: Msg) -> Delivery:
    metadata = message.metadata
    return Delivery(
        subject=message.subject,
        data=message.data,
        headers=dict(message.headers or {}),
        stream_sequence=metadata.sequence.stream,
        num_delivered=metadata.num_delivered,
    )
