"""Acknowledgements of pipelined JetStream publishes, read from one reply subscription.

A JetStream publish is a core NATS publish with a reply subject: the stream's leader answers
there with its acknowledgement (stream, sequence, duplicate) or an error. `js.publish` makes a
request of each (its own reply future, task and timer); publishing hundreds of events that way
costs the relay most of its CPU. Here every publish of a connection replies to one wildcard
subscription (`<inbox>.<n>`), and each publish waits on a future of its own.

Not nats-py's `publish_async`, which does the same, because of a defect in it (nats.py#985,
open as of nats-py 2.16): an error reply (a refusal — wrong expected last message, the stream
full) raises inside its reply handler instead of failing the publish's future, which then
never resolves; the relay would wait out its timeout and retry a refusal for good as if it
might pass. Here every reply resolves its future, with the acknowledgement or the error.
"""

from __future__ import annotations

import asyncio
import itertools
import json

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import api
from nats.js.errors import APIError, NoStreamResponseError

_NO_RESPONDERS = "503"  # the status the server answers with when nothing takes the subject


class AckInbox:
    """One connection's reply subscription for pipelined publishes (made on first use)."""

    def __init__(self, client: NatsClient) -> None:
        self._client = client
        self._prefix = ""
        self._subscription: Subscription | None = None
        self._numbers = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[api.PubAck]] = {}
        self._lock = asyncio.Lock()

    async def expect(self) -> tuple[str, asyncio.Future[api.PubAck]]:
        """A reply subject for one publish, and the future its acknowledgement resolves."""
        if self._subscription is None:
            async with self._lock:
                if self._subscription is None:
                    prefix = self._client.new_inbox()
                    self._subscription = await self._client.subscribe(f"{prefix}.*", cb=self._reply)
                    self._prefix = prefix
        token = str(next(self._numbers))
        future: asyncio.Future[api.PubAck] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        return f"{self._prefix}.{token}", future

    def forget(self, reply: str) -> None:
        """Stop waiting for the reply to `reply` (a publish given up or never sent)."""
        future = self._waiting.pop(reply.rsplit(".", 1)[-1], None)
        if future is not None and not future.done():
            future.cancel()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def _reply(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return  # given up already
        if msg.headers and msg.headers.get(api.Header.STATUS) == _NO_RESPONDERS:
            future.set_exception(NoStreamResponseError())
            return
        try:
            answer = json.loads(msg.data)
            if "error" in answer:
                APIError.from_error(answer["error"])  # raises the error's own class
                raise APIError(description=str(answer["error"]))  # (should it not)
            future.set_result(api.PubAck.from_response(answer))
        except Exception as error:  # a refusal, or a reply that is not an acknowledgement
            future.set_exception(error)
