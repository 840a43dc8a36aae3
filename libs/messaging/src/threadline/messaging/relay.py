"""The outbox relay: publishes the event store's notification log to NATS, in order.

The position last published is read back from the stream itself (the `Threadline-Position`
header of its last message), so nothing stored is left unpublished after a crash, and the
`Nats-Msg-Id` (the event id) makes a re-publish after a crash a no-op.

One event can never stop the others. An event that cannot be published — larger than the
server's `max_payload` (or the stream's `max_msg_size`), unreadable, or refused by the stream
for good — is dead-lettered *visibly* (a bounded record on `DEAD_LETTERS`: its id, position,
subject, size, SHA-256 and first bytes, with the reason; a log line; the counter
`threadline_relay_events_total{outcome="dead_lettered"}`) and the position moves past it. It is
checked before anything after it is published, so the stream's last position never passes an
event that is neither published nor dead-lettered. A transient failure (a timeout, the
connection lost, no responders) is retried with back-off and jitter from the first event not
acknowledged; what was acknowledged after it is not published again.

The stream holds the events in the order of their positions, always: consumers (analytics
keeps the last position it applied) rely on it. Each publish says which event must be the
stream's last before it (`Nats-Expected-Last-Msg-Id`), so when one publish of a pipelined round
is lost the ones after it are refused by the server rather than stored ahead of it; the next
round starts again from what the stream holds. A copy of an event already stored is still
dropped by deduplication, which the server checks first.

A relay of one partition (`subjects`: the session with several partitions runs one per
partition, in the instance holding it) publishes only its partition's events, on subjects
naming the partition, and reads its position back from the last message on them (a direct
get by wildcard subject, which NATS 2.9 answers); its dead letters have a subject of their
own. The stream then holds each partition's events in the order of their positions, the
partitions interleaved, so consumers keep a position per partition (analytics does). The
stream-wide `Nats-Expected-Last-Msg-Id` cannot be used there (other partitions publish
between), and without it a publish lost within a pipelined round (written to a connection
that then broke, while the ones after it waited in the client's buffer and went out after
the reconnect) would let later events be stored ahead of it — and then skipped by consumers
that keep a position per partition. So a relay of one partition publishes one event at a
time, each after the one before it was acknowledged; several partitions' relays publish
side by side. (Per-partition streams sourced into SESSION_EVENTS would keep both the check
and the pipeline, but NATS 2.9 applies a sourced message's `Nats-Expected-*` headers again
in the stream that sources it; measured in docs/benchmarks.md.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError
from prometheus_client import Counter, Gauge

from threadline.messaging.bus import (
    MSG_ID,
    Outcome,
    Outgoing,
    PipelinedBus,
    encoded_size,
    payload_limit,
)
from threadline.messaging.dead_letters import dead_letter
from threadline.messaging.failures import Backoff, Failure, classify, describe
from threadline.messaging.topology import DEAD_LETTERS, Topology

log = logging.getLogger(__name__)

POSITION = "Threadline-Position"
EXPECTED_LAST = "Nats-Expected-Last-Msg-Id"
_WRONG_LAST_MSG_ID = 10070  # JetStream's error code: the stream's last message is another
EVENT_ID = "Threadline-Event-Id"
UNPUBLISHABLE = "unpublishable"
_TRACEPARENT_ROOM = {"traceparent": "00-" + "0" * 32 + "-" + "0" * 16 + "-01"}

RELAYED = Counter(
    "threadline_relay_events_total",
    "Stored events the outbox relay moved on from: published, or dead-lettered (unpublishable).",
    ["stream", "outcome"],
)
RELAY_FAILURES = Counter(
    "threadline_relay_failures_total",
    "Relay rounds that failed and were retried, by kind of failure.",
    ["stream", "kind"],
)
RELAY_POSITION = Gauge(
    "threadline_relay_position",
    "The last event-log position the relay published or dead-lettered.",
    ["stream"],
)


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    position: int
    subject: str
    payload: bytes
    msg_id: str
    headers: dict[str, str]
    problem: str = ""  # set by the source when the stored event cannot become a message


@dataclass(frozen=True, slots=True)
class OutboxRead:
    """What a source of one partition read: its records, and the position up to which the log
    was read (every record up to it and not among them is another partition's)."""

    records: Sequence[OutboxRecord]
    reached: int


class NotificationSource(Protocol):
    def read_after(self, position: int, limit: int) -> Sequence[OutboxRecord] | OutboxRead:
        """Records with a position greater than `position`, in order (blocking I/O)."""
        ...


async def last_published_position(js: JetStreamContext, stream: str) -> int:
    return (await last_published(js, stream))[0]


async def last_published(
    js: JetStreamContext, stream: str, subjects: str | None = None
) -> tuple[int, str | None]:
    """The position and event id of the stream's last message, or of the last one on
    `subjects` when given ((0, None): it has none)."""
    if subjects is not None:
        try:
            found = await js.get_last_msg(stream, subjects)
        except NotFoundError:
            return 0, None
        return position_of(found.headers), (found.headers or {}).get(MSG_ID)
    info = await js.stream_info(stream)
    if not info.state.last_seq:
        return 0, None
    try:
        message = await js.get_msg(stream, seq=info.state.last_seq)
    except NotFoundError:
        return 0, None
    return position_of(message.headers), (message.headers or {}).get(MSG_ID)


async def last_dead_lettered_position(js: JetStreamContext, stream: str, subject: str) -> int:
    """The position of the last event the relay dead-lettered (0: none kept)."""
    try:
        message = await js.get_last_msg(stream, subject)
    except NotFoundError:
        return 0
    return position_of(message.headers)


def position_of(headers: Mapping[str, str] | None) -> int:
    """The event-log position a relayed message carries in its header (0: none readable)."""
    value = str((headers or {}).get(POSITION, "0"))
    return int(value) if value.isdigit() else 0


class _Interrupted(Exception):
    """A publish failed in a way that may pass: the round ends, the relay retries later."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(describe(error))
        self.error = error


@dataclass
class OutboxRelay:
    source: NotificationSource
    bus: PipelinedBus
    js: JetStreamContext
    stream: str
    batch_size: int = 500
    idle_interval: float = 0.2
    position: int = 0
    # Where dead letters go (`dlq.<service>.unpublishable` under the topology's namespace).
    topology: Topology = field(kw_only=True)
    service: str = field(kw_only=True)
    backoff: Backoff = field(default_factory=lambda: Backoff(first=0.2, limit=10.0))
    max_message_bytes: int | None = None  # None: the connection's `max_payload`
    # The relay of one partition: the subjects it publishes on (where it reads its position
    # back) and where it dead-letters. None: the whole stream is its own, and each publish
    # names the one before it (`Nats-Expected-Last-Msg-Id`, a stream-wide check).
    subjects: str | None = field(default=None, kw_only=True)
    dead_letter_slug: str = field(default=UNPUBLISHABLE, kw_only=True)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    # The event id of the stream's last message: what the next publish expects to follow.
    _last_msg_id: str | None = None
    # Set once the position was read back from the stream: until then `position` means nothing.
    resumed: bool = False

    def wake(self) -> None:
        """Something was stored: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wake.set()

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            try:
                await self._resume()
                break
            except Exception as error:
                attempt = await self._pause(error, attempt)
        log.info("relay starts after position %d", self.position)
        attempt = 0
        while not self._stopping:
            try:
                published = await self.publish_pending()
                attempt = 0
            except Exception as error:
                attempt = await self._pause(error, attempt)
                # What the stream holds decides where the next round starts (it may hold
                # more than we know of, e.g. another session instance's relay ran ahead).
                with contextlib.suppress(Exception):
                    await self._resume()
                continue
            if published == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_interval)

    async def _resume(self) -> None:
        """Start after what the stream holds: its last event, or the last one dead-lettered
        when that is later (dead letters are written in order too, never twice)."""
        published, last_msg_id = await last_published(self.js, self.stream, self.subjects)
        dead = await last_dead_lettered_position(
            self.js,
            self.topology.stream(DEAD_LETTERS),
            self.topology.dead_letter_subject(self.service, self.dead_letter_slug),
        )
        self.position = max(published, dead)
        self._last_msg_id = last_msg_id if self.subjects is None else None
        self.max_message_bytes = await self._message_limit()
        self.resumed = True

    async def _pause(self, error: BaseException, attempt: int) -> int:
        cause = error.error if isinstance(error, _Interrupted) else error
        kind = classify(cause)
        RELAY_FAILURES.labels(self.stream, kind.value).inc()
        delay = self.backoff.delay(attempt)
        log.warning(
            "relay failed after position %d (%s, %s); retrying in %.1fs",
            self.position,
            kind.value,
            describe(cause),
            delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), delay)  # new events do not hurry it
        return attempt + 1

    async def _message_limit(self) -> int:
        """The largest message the stream takes: the server's `max_payload`, or less when the
        stream has a `max_msg_size` of its own."""
        limit = payload_limit(self.bus)
        info = await self.js.stream_info(self.stream)
        own = info.config.max_msg_size
        return min(limit, own) if own and own > 0 else limit

    async def publish_pending(self) -> int:
        """Publish (or dead-letter) the records after the position; how many were moved past.
        Raises when a failure that may pass interrupted the round, after keeping its progress."""
        read = await asyncio.to_thread(self.source.read_after, self.position, self.batch_size)
        records, reached = (
            (read.records, read.reached) if isinstance(read, OutboxRead) else (read, 0)
        )
        if not records:
            self._advance(reached)  # only other partitions' records since
            return 0
        start = self.position
        limit = self.max_message_bytes or payload_limit(self.bus)
        run: list[OutboxRecord] = []
        for record in records:
            problem = record.problem or self._too_large(record, limit)
            if not problem:
                run.append(record)
                continue
            # Everything before it goes out first; it is dead-lettered before anything after.
            await self._publish_run(run)
            run = []
            await self._dead_letter(record, problem)
            self._advance(record.position)
        await self._publish_run(run)
        moved = sum(1 for r in records if start < r.position <= self.position)
        self._advance(reached)
        return moved

    def _too_large(self, record: OutboxRecord, limit: int) -> str:
        expected = {EXPECTED_LAST: record.msg_id}  # room for an id as long as its own
        headers = {**_TRACEPARENT_ROOM, **self._headers(record), MSG_ID: record.msg_id, **expected}
        size = encoded_size(record.payload, headers)
        if size <= limit:
            return ""
        return f"event of {size} bytes exceeds the largest message the stream takes ({limit})"

    async def _publish_run(self, run: list[OutboxRecord]) -> None:
        """Publish `run` in order: pipelined on one connection when the stream is the relay's
        own (`PipelinedBus.publish_each`: every event sent, then their acks awaited together,
        each expecting the one before it as the stream's last), one at a time for a relay of
        one partition. The position moves over the acknowledged prefix; a permanent refusal is
        dead-lettered; anything else interrupts."""
        if not run:
            return
        if self.subjects is None:
            messages: list[Outgoing] = []
            previous = self._last_msg_id
            for record in run:
                headers = self._headers(record)
                if previous is not None:
                    headers[EXPECTED_LAST] = previous
                messages.append(Outgoing(record.subject, record.payload, record.msg_id, headers))
                previous = record.msg_id
            await self._settle(run, await self.bus.publish_each(messages))
            return
        # Nothing can fence a pipelined round here (other partitions publish between), so
        # nothing is sent before the event ahead of it is acknowledged: a lost publish can
        # never let a later event of the partition be stored before it.
        for record in run:
            message = Outgoing(record.subject, record.payload, record.msg_id, self._headers(record))
            await self._settle([record], await self.bus.publish_each([message]))

    async def _settle(self, run: list[OutboxRecord], outcomes: Sequence[Outcome]) -> None:
        self._published.inc(sum(1 for o in outcomes if not isinstance(o, BaseException)))
        interrupted: BaseException | None = None
        for record, outcome in zip(run, outcomes, strict=True):
            error = outcome if isinstance(outcome, BaseException) else None
            if error is None:
                # Stored after one that failed? Then that one was stored too (only its
                # acknowledgement was lost) or this would have been refused; the next round
                # starts from what the stream holds either way.
                if interrupted is None:
                    self._stored(record)
                continue
            if interrupted is None and _refused_for_good(error):
                await self._dead_letter(record, f"the stream refused it: {describe(error)}")
                self._advance(record.position)
                # What follows expected this one: it is refused too, and sent again next round.
                continue
            interrupted = interrupted or error
        if interrupted is not None:
            raise _Interrupted(interrupted)

    def _stored(self, record: OutboxRecord) -> None:
        self._last_msg_id = record.msg_id
        self._advance(record.position)

    @staticmethod
    def _headers(record: OutboxRecord) -> dict[str, str]:
        return {**record.headers, POSITION: str(record.position)}

    async def _dead_letter(self, record: OutboxRecord, problem: str) -> None:
        """A bounded record of the event on DEAD_LETTERS (the event stays in the store)."""
        log.error(
            "relay dead-letters the event %s at position %d (%s): %s",
            record.msg_id,
            record.position,
            record.subject,
            problem,
        )
        try:
            await dead_letter(
                self.bus,
                self.topology,
                service=self.service,
                slug=self.dead_letter_slug,
                reason=problem,
                subject=record.subject,
                data=record.payload,
                headers={**self._headers(record), EVENT_ID: record.msg_id},
                stream=self.stream,
                sequence=record.position,
                msg_id=f"dlq:relay:{record.msg_id}",
            )
        except Exception as error:
            raise _Interrupted(error) from error
        RELAYED.labels(self.stream, "dead_lettered").inc()

    def _advance(self, position: int) -> None:
        if position <= self.position:
            return
        self.position = position
        self._position_gauge.set(position)

    @cached_property
    def _published(self) -> Counter:
        return RELAYED.labels(self.stream, "published")

    @cached_property
    def _position_gauge(self) -> Gauge:
        return RELAY_POSITION.labels(self.stream)


def _refused_for_good(error: BaseException) -> bool:
    """A refusal of this event itself, not a consequence of an earlier one's failure."""
    if isinstance(error, APIError) and error.err_code == _WRONG_LAST_MSG_ID:
        return False
    return classify(error) is Failure.PERMANENT
