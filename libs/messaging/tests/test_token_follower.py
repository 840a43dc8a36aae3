"""The token follower on real NATS: a process starting after tokens were issued and revoked
catches up with exactly the valid ones, and then honours a new token and refuses a revoked one
as their events arrive; other events on the stream are let by."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.messaging.token_follower import follow_managed_tokens, follower_of
from threadline.messaging.topology import SESSION_EVENT, Topology
from threadline.servicekit.auth import TokenRegistry, Unauthenticated, hash_token
from threadline.testing import eventually

CONFIGURED = "configured-secret"


async def publish(js: JetStreamContext, topology: Topology, event: SessionEvent) -> None:
    aggregate, name = event.event_type.split(".")
    subject = topology.publish_subject(SESSION_EVENT, aggregate=aggregate, event=name)
    await js.publish(subject, event.SerializeToString())


def issued(token_id: str, secret: str, numbers: list[str]) -> SessionEvent:
    event = SessionEvent(event_type="ApiToken.Issued", aggregate_type="ApiToken")
    body = event.api_token_issued
    body.token_id, body.name, body.token_hash = token_id, token_id, hash_token(secret)
    body.roles.append("read")
    body.numbers.extend(numbers)
    return event


def revoked(token_id: str) -> SessionEvent:
    event = SessionEvent(event_type="ApiToken.Revoked", aggregate_type="ApiToken")
    event.api_token_revoked.token_id = token_id
    return event


def known(registry: TokenRegistry, secret: str) -> bool:
    try:
        registry.authenticate(f"Bearer {secret}")
    except Unauthenticated:
        return False
    return True


async def test_it_catches_up_then_follows_issues_and_revocations(
    js: JetStreamContext, topology: Topology
) -> None:
    await publish(js, topology, issued("tok_a", "secret-a", ["*"]))
    await publish(js, topology, issued("tok_b", "secret-b", ["pn-1"]))
    await publish(js, topology, revoked("tok_a"))
    other = SessionEvent(event_type="Flow.Defined", aggregate_type="Flow")
    await publish(js, topology, other)
    registry = TokenRegistry.parse(f"{hash_token(CONFIGURED)}:admin:*")

    async with AsyncExitStack() as stack:
        follower = await follow_managed_tokens(stack, js, topology, registry, "analytics")
        assert await follower.caught_up(timedelta(seconds=10))
        assert await follower.check()() is None

        assert not known(registry, "secret-a")
        assert registry.authenticate("Bearer secret-b").numbers == frozenset({"pn-1"})
        assert known(registry, CONFIGURED)

        await publish(js, topology, issued("tok_c", "secret-c", ["*"]))
        await eventually(lambda: known(registry, "secret-c"))
        await publish(js, topology, revoked("tok_b"))
        await eventually(lambda: not known(registry, "secret-b"))
        assert known(registry, "secret-c") and known(registry, CONFIGURED)


async def test_on_an_empty_stream_it_is_caught_up_at_once(
    js: JetStreamContext, topology: Topology
) -> None:
    async with AsyncExitStack() as stack:
        follower = await follow_managed_tokens(
            stack, js, topology, TokenRegistry.parse(""), "session"
        )
        assert await follower.caught_up(timedelta(seconds=5))


def test_only_the_services_of_the_table_follow_tokens() -> None:
    assert follower_of("ai_responder").filter == "ApiToken.>"
    with pytest.raises(ValueError, match="'gateway' does not follow"):
        follower_of("gateway")
