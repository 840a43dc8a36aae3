"""Live updates for the console: `GET /api/v1/events`, server-sent events saying which
conversation changed.

Each gateway process holds one core NATS subscription on the session's conversation events
(`<SESSION_EVENTS root>.Conversation.>`, from "now": nothing is replayed, no consumer is kept on
the server) and fans every event out to the streams open in that process. A stream sends

    event: conversation
    data: {"conversation_id": "...", "event_type": "Conversation.CustomerMessageReceived"}

for each event of a conversation its caller's token may see; the console then refetches that
conversation through the REST API. The gateway keeps no token table of its own: whether a token
may see a conversation is asked of analytics with the caller's own token (a one-message
`ListMessages`), remembered for the stream's life once answered yes. A conversation analytics
does not know yet (its read model a moment behind the event) is asked again a few times before
the event is dropped; a token analytics no longer accepts (revoked) ends the stream.

A comment line every `KEEPALIVE_SECONDS` keeps proxies from closing an idle stream. A stream
whose reader falls `BACKLOG` events behind is sent `event: overflow` and ended: the console
reconnects and refetches everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import grpc
from aiohttp import web
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.gateway.adapters.inbound.http.errors import Unavailable
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, described
from threadline.gateway.adapters.inbound.http.params import Metadata, Query, credentials
from threadline.gateway.adapters.inbound.http.routes import UPSTREAMS
from threadline.gateway.adapters.outbound.upstreams import Upstreams
from threadline.messaging.topology import Topology

log = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
BACKLOG = 1000  # changes waiting for one slow stream before it is ended
# Analytics projects an event a moment after the session publishes it: how long to keep asking
# about a conversation it does not know yet.
UNKNOWN_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)
CHECK_DEADLINE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Change:
    """One event of one conversation, as the stream tells it."""

    conversation_id: str
    event_type: str


class LiveEvents:
    """The process's subscription to the conversations' events and the streams listening."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[Change | None]] = set()
        self._subscription: Subscription | None = None

    @property
    def subscribed(self) -> bool:
        return self._subscription is not None

    async def start(self, nats: NatsClient, topology: Topology) -> None:
        subject = topology.session_filter("Conversation.>")
        self._subscription = await nats.subscribe(subject, cb=self._heard)

    async def stop(self) -> None:
        if self._subscription is not None:
            with suppress(Exception):  # the connection may be closing already
                await self._subscription.unsubscribe()
            self._subscription = None
        for queue in list(self._listeners):
            _offer(queue, None)

    @contextmanager
    def listen(self) -> Iterator[asyncio.Queue[Change | None]]:
        """A queue of every change from now on until the block ends; None in it: the stream
        fell behind (or the gateway is stopping) and must end."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue(BACKLOG + 1)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    def publish(self, change: Change) -> None:
        """Hand `change` to every open stream (the subscription's callback; tests too)."""
        for queue in list(self._listeners):
            if queue.qsize() >= BACKLOG:
                self._listeners.discard(queue)
                _offer(queue, None)
            else:
                queue.put_nowait(change)

    async def _heard(self, message: Msg) -> None:
        try:
            event = SessionEvent.FromString(message.data)
        except Exception as error:  # one unreadable event must not stop the others
            log.warning("live updates: an unreadable event on %s: %s", message.subject, error)
            return
        if event.aggregate_type == "Conversation" and event.aggregate_id:
            self.publish(Change(event.aggregate_id, event.event_type))


def _offer(queue: asyncio.Queue[Change | None], item: Change | None) -> None:
    with suppress(asyncio.QueueFull):
        queue.put_nowait(item)


LIVE_EVENTS = web.AppKey("live_events", LiveEvents)
live_routes = web.RouteTableDef()


class TokenRefused(Exception):
    """Analytics no longer accepts the stream's token."""


class Visibility:
    """Which conversations one stream's token may see, asked of analytics with that token."""

    def __init__(self, upstreams: Upstreams, metadata: Metadata) -> None:
        self._upstreams, self._metadata = upstreams, metadata
        self._seen: set[str] = set()
        self._hidden: set[str] = set()

    async def may_see(self, conversation_id: str) -> bool:
        if conversation_id in self._seen:
            return True
        if conversation_id in self._hidden:
            return False
        for pause in (*UNKNOWN_RETRY_SECONDS, None):
            try:
                await self._upstreams.queries.ListMessages(
                    pb.ListMessagesRequest(conversation_id=conversation_id, limit=1),
                    metadata=self._metadata,
                    timeout=CHECK_DEADLINE_SECONDS,
                )
            except grpc.aio.AioRpcError as error:
                code = error.code()
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    raise TokenRefused(error.details() or "unknown bearer token") from None
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    self._hidden.add(conversation_id)
                    return False
                if pause is None or code not in (
                    grpc.StatusCode.NOT_FOUND,
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    return False
                await asyncio.sleep(pause)
            else:
                self._seen.add(conversation_id)
                return True
        return False


@live_routes.get("/api/v1/events")
@described(
    Operation(
        "Live updates: which conversation changed (server-sent events)",
        "live",
        answers={
            200: Answer(
                "A stream that does not end: `event: conversation` with"
                ' `data: {"conversation_id", "event_type"}` for each change, `event: overflow`'
                " before it ends when its reader fell behind (reconnect and refetch)",
                media_types=("text/event-stream",),
                schema={"type": "string"},
            )
        },
    )
)
async def live_events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `conversation` for each change of a conversation the token may see."""
    metadata = credentials(request)
    Query.of(request)
    live = request.app[LIVE_EVENTS]
    if not live.subscribed:
        raise Unavailable("live updates need NATS: the gateway has no THREADLINE_NATS_URL")
    upstreams = request.app[UPSTREAMS]
    # Refuse a token analytics refuses before the stream starts (the middleware says why).
    await upstreams.queries.ListConversations(
        pb.ListConversationsRequest(size=1), metadata=metadata, timeout=CHECK_DEADLINE_SECONDS
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 2000\n: connected\n\n")
    visibility = Visibility(upstreams, metadata)
    admitted: asyncio.Queue[Change | None] = asyncio.Queue()
    checks: set[asyncio.Task[None]] = set()

    async def admit(change: Change) -> None:
        try:
            if await visibility.may_see(change.conversation_id):
                admitted.put_nowait(change)
        except TokenRefused:
            admitted.put_nowait(None)

    async def forward(heard: asyncio.Queue[Change | None]) -> None:
        while (change := await heard.get()) is not None:
            task = asyncio.create_task(admit(change))
            checks.add(task)
            task.add_done_callback(checks.discard)
        admitted.put_nowait(None)

    with live.listen() as heard:
        forwarder = asyncio.create_task(forward(heard))
        try:
            while True:
                try:
                    change = await asyncio.wait_for(admitted.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if change is None:
                    await response.write(b"event: overflow\ndata: {}\n\n")
                    break
                data = json.dumps(
                    {"conversation_id": change.conversation_id, "event_type": change.event_type}
                )
                await response.write(f"event: conversation\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            forwarder.cancel()
            for task in list(checks):
                task.cancel()
    return response
