"""`threadline events tail` and `threadline events show <conversation>`: read the streams.

`tail` follows `SESSION_EVENTS` on NATS as the relay publishes it (an ephemeral ordered
consumer: it acknowledges nothing and disturbs no durable consumer), one line per event:
position, subject, aggregate id, a short body. `show` reads one conversation's stream from
the session's `EventLog` (`ReadStream`), one line per event, by version.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC
from typing import TextIO
from uuid import UUID

import grpc
import nats.errors
from google.protobuf import text_format
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy

from threadline.analytics.adapters.outbound.session_event_log import EventLogReader
from threadline.analytics.application.write.rebuild import StreamNotFound
from threadline.cli.endpoints import NatsEndpoint, SessionEndpoint
from threadline.cli.failures import PlatformDown, connect
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.relay import POSITION
from threadline.messaging.topology import SESSION_EVENTS, Topology

BODY_WIDTH = 110


def short_body(event: SessionEvent) -> str:
    """The event's body on one line, its message text first, cut to `BODY_WIDTH` characters."""
    name = event.WhichOneof("body")
    if name is None:
        return "(no body)"
    body = type(getattr(event, name))()
    body.CopyFrom(getattr(event, name))
    said = ""
    if "content" in body.DESCRIPTOR.fields_by_name and body.HasField("content"):
        content = body.content
        said = f"[{content.type}] {content.text!r} " if content.text else f"[{content.type}] "
        body.ClearField("content")
    text = said + text_format.MessageToString(body, as_one_line=True)
    return text if len(text) <= BODY_WIDTH else text[: BODY_WIDTH - 1] + "…"


def tail_line(event: SessionEvent, subject: str) -> str:
    return f"{event.position:>9}  {subject:<52}  {event.aggregate_id:<36}  {short_body(event)}"


def show_line(event: SessionEvent) -> str:
    at = event.occurred_at.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    kind = event.event_type or event.WhichOneof("body") or "?"
    return f"v{event.aggregate_version:<5} {at}  {kind:<42}  {short_body(event)}"


async def tail_events(
    endpoint: NatsEndpoint,
    *,
    out: TextIO | None = None,
    last: int = 0,
    limit: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Print events as they are published, after the `last` ones already in the stream;
    until `limit` events were printed, `stop` is set, or Ctrl-C. PlatformDown when NATS is
    not there, or goes away for good while following."""
    out = out or sys.stdout
    topology = Topology(endpoint.namespace)
    lost = asyncio.Event()
    client = await connect(endpoint.url, "threadline-events-tail", lost)
    try:
        js = client.jetstream()
        stream = topology.stream(SESSION_EVENTS)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        if last:
            info = await js.stream_info(stream)
            first = max(info.state.first_seq, info.state.last_seq - last + 1)
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first
            )
        subscription = await js.subscribe(
            topology.stream_filter(SESSION_EVENTS),
            stream=stream,
            ordered_consumer=True,
            config=config,
        )
        printed = 0
        stopped = stop or asyncio.Event()
        while limit is None or printed < limit:
            try:
                message = await _next(subscription, stopped, lost)
            except nats.errors.ConnectionClosedError:
                lost.set()
                message = None
            if message is None and lost.is_set():
                raise PlatformDown(f"lost NATS at {endpoint.url}; stopped following")
            if message is None:
                break
            event = SessionEvent.FromString(message.data)
            if not event.position and (message.headers or {}).get(POSITION, "").isdigit():
                event.position = int((message.headers or {})[POSITION])
            out.write(tail_line(event, _unqualified(topology, message.subject)) + "\n")
            out.flush()
            printed += 1
    finally:
        if not client.is_closed:
            await client.close()
    return 0


def _unqualified(topology: Topology, subject: str) -> str:
    prefix = f"{topology.namespace}." if topology.namespace else ""
    return subject.removeprefix(prefix)


async def _next(
    subscription: Subscription, stopped: asyncio.Event, lost: asyncio.Event
) -> Msg | None:
    getting = asyncio.ensure_future(subscription.next_msg(timeout=None))
    waiting = asyncio.ensure_future(stopped.wait())
    losing = asyncio.ensure_future(lost.wait())
    done, _ = await asyncio.wait({getting, waiting, losing}, return_when=asyncio.FIRST_COMPLETED)
    for task in (getting, waiting, losing):
        if task not in done:
            task.cancel()
    return getting.result() if getting in done else None


def show_events(
    endpoint: SessionEndpoint,
    conversation: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Print one conversation's (or contact's) stream, oldest first."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        UUID(conversation)
    except ValueError:
        err.write(f"not a conversation id: {conversation!r}\n")
        return 2
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            events = EventLogReader(channel, endpoint.token).read_stream(conversation)
        except StreamNotFound as error:
            err.write(f"{error}\n")
            return 1
    for event in events:
        out.write(show_line(event) + "\n")
    return 0
