"""Where a customer message's time goes, stage by stage (issue 15, item 1): which consumer
queues most at an offered rate.

Every step of the path is kept on a JetStream stream, and the server stamps each message with
when it stored it; the benchmark reads those stamps after a phase (nothing on the hot path
changes, no process is asked anything) and joins them per customer message:

1. ingest kept the fact (`InboundMessageReceived` on INGEST_EVENTS),
2. the session recorded the message and relayed it (`Conversation.CustomerMessageReceived` on
   SESSION_EVENTS),
3. the AI responder began answering: its consumer had the message, the burst was due and
   claimed, the view read (`Conversation.TypingIndicatorRequested` on AI_EVENTS, asked for as
   the answer starts),
4. the AI responder drafted the reply (`Conversation.ReplyDrafted` on AI_EVENTS),
5. the session queued it and relayed it (`Conversation.OutboundMessageQueued` on
   SESSION_EVENTS),
6. outbound sent it: the sandbox accepted it (the benchmark's clock, as for the latency).

Everything runs on one machine, so the server's clock and the benchmark's are the same clock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.bench.percentiles import percentile
from threadline.contracts.events.v1.ai_pb2 import ReplyDrafted, TypingIndicatorRequested
from threadline.contracts.events.v1.ingest_pb2 import InboundMessageReceived
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import (
    AI_EVENTS,
    INGEST_EVENTS,
    SESSION_EVENTS,
    Topology,
)

STAGES = (
    "session recorded the message (from ingest's fact)",
    "AI responder began answering",
    "AI responder drafted the reply",
    "session queued the reply",
    "outbound sent it (the sandbox has it)",
)


@dataclass(frozen=True)
class StageFigures:
    stage: str
    samples: int
    p50_ms: float
    p99_ms: float


async def _stamped(
    js: JetStreamContext, stream: str, subject: str, since: datetime, *, timeout: float = 60.0
) -> list[tuple[bytes, datetime]]:
    """Every message on `subject` stored since `since`, with when the server stored it (at
    least those stored when the consumer was made; later ones may come too).

    How many that is, is read from the consumer once it is made: those it delivered already
    plus those still pending. (Asking only whether any were still pending missed every one the
    server had pushed before it answered but the callback had not yet taken — on the busy
    machine at the end of a phase, all of them: that stage of the phase came out empty.)"""
    found: list[tuple[bytes, datetime]] = []
    expected: int | None = None
    done = asyncio.Event()

    async def read(message: Msg) -> None:
        found.append((message.data, message.metadata.timestamp))
        if expected is not None and len(found) >= expected:
            done.set()

    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    subscription = await js.subscribe(
        subject,
        stream=stream,
        cb=read,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=since),
    )
    try:
        consumer = await subscription.consumer_info()
        delivered = consumer.delivered.consumer_seq if consumer.delivered else 0
        expected = (delivered or 0) + (consumer.num_pending or 0)
        if len(found) < expected:
            await asyncio.wait_for(done.wait(), timeout)
    finally:
        await subscription.unsubscribe()
    return found


async def stage_times(
    nats_url: str, since: datetime, replied: Mapping[str, datetime]
) -> list[StageFigures]:
    """Each stage's p50 and p99 for the customers in `replied` (wa_id → when the sandbox
    accepted the reply), each customer having sent one message since `since`."""
    topology = Topology()
    steps = (  # (stream, subject under its root), one per step, in the path's order
        (INGEST_EVENTS, "*.*.InboundMessageReceived"),
        (SESSION_EVENTS, "Conversation.CustomerMessageReceived"),
        (AI_EVENTS, "*.Conversation.TypingIndicatorRequested"),
        (AI_EVENTS, "*.Conversation.ReplyDrafted"),
        (SESSION_EVENTS, "Conversation.OutboundMessageQueued"),
    )
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        kept, received, typing, drafted, queued = await asyncio.gather(
            *(
                _stamped(js, topology.stream(stream), f"{topology.root(stream)}.{subject}", since)
                for stream, subject in steps
            )
        )
    finally:
        await nc.close()
    return join_stages(kept, received, typing, drafted, queued, replied)


Stamped = Sequence[tuple[bytes, datetime]]


def join_stages(
    kept: Stamped,
    received: Stamped,
    typing: Stamped,
    drafted: Stamped,
    queued: Stamped,
    replied: Mapping[str, datetime],
) -> list[StageFigures]:
    """Each stage's figures from the stamped messages of each step (see the module), joined
    per customer message: by wamid, then by the session's message id."""
    wamid_of: dict[str, str] = {}  # wa_id -> the customer's message
    kept_at: dict[str, datetime] = {}  # wamid -> stored
    for data, at in kept:
        fact = InboundMessageReceived.FromString(data)
        if fact.customer.wa_id in replied:
            wamid_of[fact.customer.wa_id] = fact.wamid
            kept_at[fact.wamid] = at
    message_of: dict[str, str] = {}  # wamid -> the session's message id
    received_at: dict[str, datetime] = {}  # message id -> relayed
    for data, at in received:
        event = SessionEvent.FromString(data).customer_message_received
        if event.wamid in kept_at:
            message_of[event.wamid] = event.message_id
            received_at[event.message_id] = at
    began_at: dict[str, datetime] = {}  # message id -> the first answer covering it began
    for data, at in typing:
        message = message_of.get(TypingIndicatorRequested.FromString(data).wamid, "")
        if message and message not in began_at:
            began_at[message] = at
    drafted_at = _first_covering(
        ((ReplyDrafted.FromString(data), at) for data, at in drafted), received_at
    )
    queued_at = _first_covering(
        ((SessionEvent.FromString(data).outbound_message_queued, at) for data, at in queued),
        received_at,
    )
    durations: list[list[float]] = [[] for _ in STAGES]
    for wa_id, sent_at in replied.items():
        wamid = wamid_of.get(wa_id, "")
        message = message_of.get(wamid, "")
        moments = (
            kept_at.get(wamid),
            received_at.get(message),
            began_at.get(message),
            drafted_at.get(message),
            queued_at.get(message),
            sent_at,
        )
        if any(moment is None for moment in moments):
            continue
        for stage, (start, end) in enumerate(itertools.pairwise(moments)):
            assert start is not None and end is not None
            durations[stage].append((end - start) / timedelta(milliseconds=1))
    return [_figures(stage, values) for stage, values in zip(STAGES, durations, strict=True)]


class Covering(Protocol):
    """A reply, drafted or queued: the customer messages it answers."""

    @property
    def covered_message_ids(self) -> Sequence[str]: ...

    @property
    def in_reply_to_message_id(self) -> str: ...


def _first_covering(
    found: Iterable[tuple[Covering, datetime]], messages: Mapping[str, datetime]
) -> dict[str, datetime]:
    """message id -> when the first reply covering it was stored."""
    first: dict[str, datetime] = {}
    for reply, at in found:
        for message in list(reply.covered_message_ids) or [reply.in_reply_to_message_id]:
            if message in messages and message not in first:
                first[message] = at
    return first


def _figures(stage: str, values: list[float]) -> StageFigures:
    if not values:
        return StageFigures(stage, 0, 0.0, 0.0)
    return StageFigures(stage, len(values), percentile(values, 0.50), percentile(values, 0.99))
