"""Batches from a durable pull consumer, one pull request a batch.

nats-py's `PullSubscription.fetch(n)` waits, once a first message arrived, for the batch to
fill or its timeout to pass; the consumer loop used to ask for one message and then drain what
was ready with a second `fetch`, which costs NATS two or three pull requests and one or two
status replies a batch, and the client a task and a timer for every message it receives.

A JetStream pull request that sets both `no_wait` and `expires` waits until at least one
message is there (or `expires` passes), then delivers what is ready, up to `batch`, and ends
at once with a status (404 "No Messages", or 408 on NATS 2.9) unless the batch filled: exactly
"wait for one, then take what is ready". Each request gets a reply subject of its own under one
wildcard subscription, so a status is matched to the request it ends and a late one is never
mistaken for the current request's end. Messages are never dropped: one that arrives after its
request was given up (the client's timeout passed first) is handed out with the next batch.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.client import DEFAULT_JS_SUB_PENDING_BYTES_LIMIT, DEFAULT_JS_SUB_PENDING_MSGS_LIMIT
from nats.js.errors import APIError

STATUS = "Status"
HEARTBEAT = "100"
NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"
CONFLICT = "409"  # e.g. "Leadership Change", "Exceeded MaxWaiting", "Consumer Deleted"
# How much longer than the request's `expires` the client waits for the server's status.
GRACE = 0.5
# The request expires this much before the client's timeout, so its status arrives in time.
EARLIER_NS = 100_000


class BatchPuller:
    """Pulls from one durable consumer; `open` subscribes, `close` unsubscribes."""

    def __init__(self, nc: Client, next_subject: str) -> None:
        self._nc = nc
        self._next_subject = next_subject  # $JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>
        self._inbox = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._ready: deque[Msg] = deque()
        self._arrived = asyncio.Event()
        self._request = 0  # the number of the last request sent
        self._end: Msg | None = None  # the status that ended it, once it came

    @classmethod
    async def open(cls, js: JetStreamContext, *, stream: str, durable: str) -> BatchPuller:
        """A puller for `durable` on `stream`, through `js`'s connection and API prefix
        (nats-py offers them only as `_nc` and `_prefix`)."""
        puller = cls(js._nc, f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}")
        puller._subscription = await puller._nc.subscribe(
            f"{puller._inbox}.*",
            cb=puller._heard,
            # nats-py's limits for a pull subscription, as the loop had before.
            pending_msgs_limit=DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
            pending_bytes_limit=DEFAULT_JS_SUB_PENDING_BYTES_LIMIT,
        )
        return puller

    async def close(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    async def _heard(self, message: Msg) -> None:
        status = message.headers.get(STATUS) if message.headers and not message.reply else None
        if status is None:
            self._ready.append(message)
        elif status == HEARTBEAT:
            return
        elif message.subject == f"{self._inbox}.{self._request}":
            self._end = message
        # else: the end of an earlier request, given up on already.
        self._arrived.set()

    async def fetch(self, batch: int, *, timeout: float, max_bytes: int | None = None) -> list[Msg]:
        """Wait up to `timeout` seconds for a first message, then take every one ready, up to
        `batch` messages and, when given, `max_bytes` bytes (the server's count: payloads,
        headers and subjects; keep it above the largest message NATS accepts, or one larger
        would never be delivered). Raises nats' `TimeoutError` when none came, `APIError` when
        the server refused the request (a consumer deleted, too many requests waiting, ...)."""
        if self._subscription is None:
            raise RuntimeError("the puller is not open")
        if self._ready:  # arrived after their request was given up on: no need to ask
            return self._take(batch)
        self._request += 1
        self._end = None
        request = {
            "batch": batch,
            "expires": max(int(timeout * 1_000_000_000) - EARLIER_NS, 1),
            "no_wait": True,
        }
        if max_bytes is not None:
            request["max_bytes"] = max_bytes
        await self._nc.publish(
            self._next_subject,
            json.dumps(request).encode(),
            reply=f"{self._inbox}.{self._request}",
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + GRACE
        while len(self._ready) < batch and self._end is None:
            self._arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                break
        if self._ready:
            return self._take(batch)
        end = self._end
        status = end.headers.get(STATUS) if end is not None and end.headers else None
        if end is None or status in (NO_MESSAGES, REQUEST_TIMEOUT):
            raise NatsTimeoutError
        if status == CONFLICT and "Leadership Change" in (end.headers or {}).get("Description", ""):
            raise NatsTimeoutError  # the consumer moved: ask again
        raise APIError.from_msg(end)

    def _take(self, batch: int) -> list[Msg]:
        ready = self._ready
        return [ready.popleft() for _ in range(min(batch, len(ready)))]
