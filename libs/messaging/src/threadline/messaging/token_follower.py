"""The session's managed API tokens (issue 13), read into a process's `TokenRegistry`: an ordered
consumer of `session.events.ApiToken.>` (the topology's `TOKEN_FOLLOWERS`) from the start of
SESSION_EVENTS every time the process starts, kept up to date while it runs, so an issued token
is honoured and a revoked one refused within moments of the session's event.

Ready once it has read what the stream held when it subscribed: until then a managed token may
still be unknown (refused as unauthenticated), never a revoked one honoured for long."""

from __future__ import annotations

from contextlib import AsyncExitStack

from nats.js import JetStreamContext

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.session_events_follower import SessionEventsFollower
from threadline.messaging.topology import TOKEN_FOLLOWERS, Follower, Topology
from threadline.servicekit.auth import ManagedTokens, TokenRegistry


class TokenFollower(SessionEventsFollower):
    """Follows the managed tokens' events for `service` into `registry.managed`."""

    def __init__(
        self, js: JetStreamContext, topology: Topology, registry: TokenRegistry, service: str
    ) -> None:
        self.registry = registry
        tokens = registry.managed
        super().__init__(
            js,
            topology,
            [follower_of(service)],
            lambda event: apply(tokens, event),
            what="the managed API tokens",
            held=lambda: f"{len(tokens)} valid",
        )


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
