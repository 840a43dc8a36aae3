"""Managed API tokens (issue 13 item 2): the session issues a token's secret once and keeps only
its hash, never gives a token more than its issuer has, lists tokens without secrets or hashes,
and a revoked token is refused by the session's own gRPC server within moments. Over the
application, then over real gRPC, NATS and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import Principal, TokenRegistry, hash_token
from threadline.session.adapters.integration_events.session_events import SessionEvents
from threadline.session.adapters.outbound.stored_records import StoredRecords
from threadline.session.application.conversations import Conversations
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.api_token import ApiTokenNotFound, ApiTokenScope, ScopeExceeded
from threadline.session.domain.errors import InvalidConfiguration
from threadline.testing import eventually

NUMBER_A, NUMBER_B = "109000000000001", "109000000000002"
ADMIN = Principal(frozenset({"read", "write", "admin"}), None, "env:admin")
TENANT_A = Principal(frozenset({"read", "admin"}), frozenset({NUMBER_A}), "env:tenant-a")
EVERY = ("*",)


def token_events(app: Conversations) -> list[events_pb.SessionEvent]:
    decoder = SessionEvents(app.mapper)
    found = [decoder.decode(record) for record in StoredRecords(app.recorder).after(0, 1000)]
    return [event for event in found if event.aggregate_type == "ApiToken"]


def test_the_secret_is_given_once_and_only_its_hash_is_stored(app: Conversations) -> None:
    issued = app.issue_api_token("console", ApiTokenScope.validated(["read"], EVERY), ADMIN)

    assert issued.secret.startswith("tl_") and len(issued.secret) > 40
    [event] = token_events(app)
    assert event.event_type == "ApiToken.Issued"
    body = event.api_token_issued
    assert body.token_hash == hash_token(issued.secret)
    assert (body.token_id, body.name, list(body.roles), list(body.numbers)) == (
        issued.token.token_id,
        "console",
        ["read"],
        ["*"],
    )
    assert body.issued_by == "env:admin" and body.issued_at.seconds > 0
    # Nothing the session keeps or publishes holds the secret itself.
    stored = b"".join(record[-1] for record in StoredRecords(app.recorder).after(0, 1000))
    assert issued.secret.encode() not in stored
    assert issued.secret.encode() not in event.SerializeToString()
    registry = TokenRegistry.parse("")
    registry.managed.issued(body.token_id, body.token_hash, body.roles, body.numbers)
    assert registry.authenticate(f"Bearer {issued.secret}").subject == f"token:{body.token_id}"


def test_a_token_never_gets_more_than_its_issuer_has(app: Conversations) -> None:
    reader = Principal(frozenset({"read"}), None, "env:reader")

    with pytest.raises(ScopeExceeded, match="every number"):
        app.issue_api_token("wide", ApiTokenScope.validated(["read"], EVERY), TENANT_A)
    with pytest.raises(ScopeExceeded, match=f"number\\(s\\) {NUMBER_B}"):
        app.issue_api_token("b", ApiTokenScope.validated(["read"], [NUMBER_A, NUMBER_B]), TENANT_A)
    with pytest.raises(ScopeExceeded, match="role\\(s\\) write"):
        app.issue_api_token("w", ApiTokenScope.validated(["read", "write"], EVERY), reader)
    # Admin implies read and write; within its numbers the tenant issues what it has.
    issued = app.issue_api_token(
        "a", ApiTokenScope.validated(["write", "read"], [NUMBER_A]), TENANT_A
    )
    assert (issued.token.roles, issued.token.numbers) == (("read", "write"), (NUMBER_A,))
    assert issued.token.issued_by == "env:tenant-a"
    assert [e.event_type for e in token_events(app)] == ["ApiToken.Issued"]


@pytest.mark.parametrize(
    ("roles", "numbers", "message"),
    [
        ([], EVERY, "roles: name at least one"),
        (["owner"], EVERY, "roles: unknown ['owner']"),
        (["read"], [], "numbers: name phone_number_ids"),
        (["read"], ["*", NUMBER_A], "numbers: '*' (every number) stands alone"),
        (["read"], ["10 9"], "numbers: '10 9' is not a phone_number_id"),
    ],
)
def test_a_scope_is_checked_naming_the_field(
    roles: list[str], numbers: list[str], message: str
) -> None:
    with pytest.raises(InvalidConfiguration, match=re.escape(message)):
        ApiTokenScope.validated(roles, numbers)


def test_revoked_once_listed_within_the_callers_numbers(app: Conversations) -> None:
    wide = app.issue_api_token("wide", ApiTokenScope.validated(["read"], EVERY), ADMIN)
    mine = app.issue_api_token("mine", ApiTokenScope.validated(["read"], [NUMBER_A]), TENANT_A)

    with pytest.raises(ApiTokenNotFound):
        app.revoke_api_token(wide.token.token_id, TENANT_A)
    with pytest.raises(ApiTokenNotFound):
        app.revoke_api_token("tok_nothing", ADMIN)
    first = app.revoke_api_token(mine.token.token_id, TENANT_A)
    again = app.revoke_api_token(mine.token.token_id, ADMIN)

    assert (first.changed, again.changed) == (True, False)
    assert first.token.revoked_at is not None and first.token.revoked_by == "env:tenant-a"
    assert [t.name for t in app.api_tokens(ADMIN, include_revoked=False)] == ["wide"]
    assert [t.name for t in app.api_tokens(ADMIN, include_revoked=True)] == ["wide", "mine"]
    assert [t.name for t in app.api_tokens(TENANT_A, include_revoked=True)] == ["mine"]
    revoked = [e for e in token_events(app) if e.event_type == "ApiToken.Revoked"]
    assert [e.api_token_revoked.token_id for e in revoked] == [mine.token.token_id]


TOKENS = {
    "admin": "read,write,admin:*",
    "tenant-a": f"read,write,admin:{NUMBER_A}",
    "reader": "read:*",
}


def auth(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
async def commands(
    session_config: Callable[..., SessionConfig],
) -> AsyncIterator[pb_grpc.SessionCommandsStub]:
    config = session_config(
        api_tokens=";".join(f"{hash_token(name)}:{grant}" for name, grant in TOKENS.items())
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield pb_grpc.SessionCommandsStub(channel)


async def refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


async def test_an_issued_token_works_until_revoked_over_grpc(
    commands: pb_grpc.SessionCommandsStub,
) -> None:
    issued = await commands.IssueApiToken(
        pb.IssueApiTokenRequest(name="ops", roles=["read", "admin"], numbers=[NUMBER_A]),
        metadata=auth("tenant-a"),
    )
    secret = issued.secret

    async def it_lists() -> bool:
        try:
            listed = await commands.ListApiTokens(pb.ListApiTokensRequest(), metadata=auth(secret))
        except grpc.aio.AioRpcError as refused:  # not known yet: refused as unauthenticated
            assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
            return False
        return [t.name for t in listed.tokens] == ["ops"]

    await eventually(it_lists)
    listed = await commands.ListApiTokens(
        pb.ListApiTokensRequest(include_revoked=True), metadata=auth("admin")
    )
    [token] = listed.tokens
    assert (token.token_id, token.issued_by, token.revoked) == (
        issued.token.token_id,
        f"env:{hash_token('tenant-a')[:12]}",
        False,
    )
    assert secret not in str(listed) and hash_token(secret) not in str(listed)
    # The issued token issues no more than it has, and revokes itself.
    wider = await refusal(
        commands.IssueApiToken(
            pb.IssueApiTokenRequest(name="x", roles=["read"], numbers=["*"]), metadata=auth(secret)
        )
    )
    assert wider.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "every number" in (wider.details() or "")
    revoked = await commands.RevokeApiToken(
        pb.RevokeApiTokenRequest(token_id=token.token_id), metadata=auth(secret)
    )
    assert (revoked.changed, revoked.token.revoked) == (True, True)
    assert revoked.token.revoked_by == f"token:{token.token_id}"

    async def it_is_refused() -> bool:
        try:
            await commands.ListApiTokens(pb.ListApiTokensRequest(), metadata=auth(secret))
        except grpc.aio.AioRpcError as refused:
            return refused.code() == grpc.StatusCode.UNAUTHENTICATED
        return False

    await eventually(it_is_refused)


async def test_grpc_refusals(commands: pb_grpc.SessionCommandsStub) -> None:
    not_admin = await refusal(
        commands.IssueApiToken(
            pb.IssueApiTokenRequest(name="x", roles=["read"], numbers=["*"]),
            metadata=auth("reader"),
        )
    )
    invalid = await refusal(
        commands.IssueApiToken(
            pb.IssueApiTokenRequest(name="x", roles=["root"], numbers=["*"]), metadata=auth("admin")
        )
    )
    unknown = await refusal(
        commands.RevokeApiToken(
            pb.RevokeApiTokenRequest(token_id="tok_unknown"), metadata=auth("admin")
        )
    )
    listing = await refusal(
        commands.ListApiTokens(pb.ListApiTokensRequest(), metadata=auth("reader"))
    )

    assert not_admin.code() == grpc.StatusCode.PERMISSION_DENIED
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "roles: unknown ['root']" in (invalid.details() or "")
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert listing.code() == grpc.StatusCode.PERMISSION_DENIED
