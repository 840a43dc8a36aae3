"""The session's managed API tokens (issue 13), read into a process's `TokenRegistry`: an ordered
consumer of `session.events.ApiToken.>` (the topology's `TOKEN_FOLLOWERS`) from the start of
SESSION_EVENTS every time the process starts, kept up to date while it runs, so an issued token
is honoured and a revoked one refused within moments of the session's event.

Ready once it has read what the stream held when it subscribed: until then a managed token may
still be unknown (refused as unauthenticated), never a revoked one honoured for long."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.topology import TOKEN_FOLLOWERS, Follower, Topology
from threadline.servicekit.auth import ManagedTokens, TokenRegistry
from threadline.servicekit.ops_http import ReadinessCheck

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
# The server removes a follower whose process is gone after this long without interest.
INACTIVE_SECONDS = 30.0


class TokenFollower:
    """Follows the managed tokens' events for `service` into `registry.managed`."""

    def __init__(
        self, js: JetStreamContext, topology: Topology, registry: TokenRegistry, service: str
    ) -> None:
        self._js, self._topology, self.registry = js, topology, registry
        self._tokens = registry.managed
        self._follower = follower_of(service)
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._target: int | None = None  # how many messages make it caught up
        self._read_count = 0
        self._caught_up = asyncio.Event()

    async def start(self) -> None:
        """Subscribe from the first event of the stream."""
        self._subscription = await self._js.subscribe(
            self._topology.filter_subject(self._follower),
            stream=self._topology.stream(self._follower.stream),
            cb=self._read,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            idle_heartbeat=HEARTBEAT_SECONDS,
            inactive_threshold=INACTIVE_SECONDS,
        )
        info = await self._subscription.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        self._target = (info.num_pending or 0) + (delivered or 0)
        self._check()

    async def stop(self) -> None:
        if self._subscription is None:
            return
        try:
            await self._subscription.unsubscribe()
        except Exception as error:  # the connection may be closing already
            log.debug("could not unsubscribe the token follower: %s", error)

    async def caught_up(self, timeout: timedelta) -> bool:
        """Wait until the registry holds what the stream held at start (False after
        `timeout`)."""
        try:
            await asyncio.wait_for(self._caught_up.wait(), timeout.total_seconds())
        except TimeoutError:
            return False
        return True

    def check(self) -> ReadinessCheck:
        """Ready once caught up: until then a managed token may be unknown."""

        async def check() -> str | None:
            if self._caught_up.is_set():
                return None
            return "still reading the managed API tokens from SESSION_EVENTS"

        return check

    async def _read(self, message: Msg) -> None:
        try:
            apply(self._tokens, SessionEvent.FromString(message.data))
        except Exception as error:  # one unreadable event must not stop the others
            log.warning("skipping an unreadable event on %s: %s", message.subject, error)
        self._read_count += 1
        self._check(nothing_pending=message.metadata.num_pending == 0)

    def _check(self, *, nothing_pending: bool = False) -> None:
        read_all = self._target is not None and self._read_count >= self._target
        if (read_all or nothing_pending) and not self._caught_up.is_set():
            log.info("managed API tokens caught up: %d valid", len(self._tokens))
            self._caught_up.set()


async def follow_managed_tokens(
    stack: AsyncExitStack,
    js: JetStreamContext,
    topology: Topology,
    registry: TokenRegistry,
    service: str,
) -> TokenFollower:
    """`registry` (the configured tokens, `THREADLINE_API_TOKENS`) following the managed ones
    from now on; `stack` stops following."""
    follower = TokenFollower(js, topology, registry, service)
    await follower.start()
    stack.push_async_callback(follower.stop)
    return follower


def follower_of(service: str) -> Follower:
    """`service`'s entry of `TOKEN_FOLLOWERS`."""
    for follower in TOKEN_FOLLOWERS:
        if follower.service == service:
            return follower
    raise ValueError(f"{service!r} does not follow the managed API tokens (TOKEN_FOLLOWERS)")


def apply(tokens: ManagedTokens, event: SessionEvent) -> None:
    """What one of the session's events says about managed tokens."""
    body = event.WhichOneof("body")
    if body == "api_token_issued":
        issued = event.api_token_issued
        tokens.issued(issued.token_id, issued.token_hash, issued.roles, issued.numbers)
    elif body == "api_token_revoked":
        tokens.revoked(event.api_token_revoked.token_id)
