"""Bearer tokens scoped to roles and business numbers, and the interceptor that checks them on
every gRPC call (over a real server: a small `ConversationQueries` servicer that reports the
caller it sees)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc
from threadline.servicekit.auth import (
    PermissionDenied,
    Principal,
    TokenRegistry,
    Unauthenticated,
    current_principal,
    hash_token,
)
from threadline.servicekit.grpc_kit import Registration, start_grpc_server

Context = grpc.aio.ServicerContext[Any, Any]
READER, WRITER, ADMIN, SCOPED = "reader-token", "writer-token", "admin-token", "scoped-token"
TOKENS = ";".join(
    [
        f"{hash_token(READER)}:read:*",
        f" {hash_token(WRITER)}:read, write: * ",
        f"{hash_token(ADMIN)}:admin:*",
        f"{hash_token(SCOPED)}:read:pn-1,pn-2",
    ]
)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


# The registry -------------------------------------------------------------------------------


def test_each_entry_gives_its_roles_and_numbers() -> None:
    registry = TokenRegistry.parse(TOKENS + ";;")

    assert registry.authenticate(f"Bearer {READER}") == Principal(
        frozenset({"read"}), None, f"env:{hash_token(READER)[:12]}"
    )
    assert registry.authenticate(f"Bearer {WRITER}") == Principal(
        frozenset({"read", "write"}), None, f"env:{hash_token(WRITER)[:12]}"
    )
    assert registry.authenticate(f"bearer {SCOPED}") == Principal(
        frozenset({"read"}), frozenset({"pn-1", "pn-2"}), f"env:{hash_token(SCOPED)[:12]}"
    )


def test_managed_tokens_are_honoured_beside_the_configured_until_revoked() -> None:
    registry = TokenRegistry.parse(TOKENS)
    registry.managed.issued("tok_1", hash_token("managed-secret"), ["read", "owner"], ["pn-1"])
    registry.managed.issued("tok_2", hash_token("everywhere"), ["write"], ["*"])

    assert registry.authenticate("Bearer managed-secret") == Principal(
        frozenset({"read"}), frozenset({"pn-1"}), "token:tok_1"
    )
    assert registry.authenticate("Bearer everywhere").numbers is None
    assert registry.authenticate(f"Bearer {READER}").roles == {"read"}
    registry.managed.revoked("tok_1")
    with pytest.raises(Unauthenticated):
        registry.authenticate("Bearer managed-secret")
    # A revoked token stays revoked, even if its issue were told again.
    registry.managed.issued("tok_1", hash_token("managed-secret"), ["read"], ["pn-1"])
    with pytest.raises(Unauthenticated):
        registry.authenticate("Bearer managed-secret")
    assert len(registry.managed) == 1


def test_a_caller_grants_no_more_than_it_has() -> None:
    admin = Principal(frozenset({"admin"}), frozenset({"pn-1", "pn-2"}))
    everywhere = Principal(frozenset({"read"}), None)

    assert admin.grants(frozenset({"read", "write", "admin"}), frozenset({"pn-1"}))
    assert not admin.grants(frozenset({"read"}), None)
    assert not admin.grants(frozenset({"read"}), frozenset({"pn-1", "pn-3"}))
    assert everywhere.grants(frozenset({"read"}), None)
    assert not everywhere.grants(frozenset({"write"}), frozenset({"pn-1"}))


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic dXNlcjpwYXNz", f"Token {READER}", "Bearer "]
)
def test_a_missing_or_foreign_authorization_is_unauthenticated(authorization: str | None) -> None:
    with pytest.raises(Unauthenticated):
        TokenRegistry.parse(TOKENS).authenticate(authorization)


def test_a_token_nobody_configured_is_unauthenticated() -> None:
    with pytest.raises(Unauthenticated, match="unknown bearer token"):
        TokenRegistry.parse(TOKENS).authenticate("Bearer someone-elses-token")


def test_the_registry_keeps_hashes_only() -> None:
    registry = TokenRegistry.parse(TOKENS)

    assert set(registry.by_hash) == {hash_token(t) for t in (READER, WRITER, ADMIN, SCOPED)}


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("abc:read:*", "must be '<sha256 hex>:<roles>:<numbers or *>'"),
        (f"{hash_token('x')}:read", "must be '<sha256 hex>:<roles>:<numbers or *>'"),
        (f"{hash_token('x')}:read,owner:*", "unknown roles ['owner']"),
    ],
)
def test_a_malformed_entry_is_refused_without_echoing_the_hash(entry: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        TokenRegistry.parse(entry)

    assert problem in str(refused.value)
    assert hash_token("x") not in str(refused.value)


def test_a_role_is_required_unless_the_caller_is_an_admin() -> None:
    reader = Principal(frozenset({"read"}), None)
    admin = Principal(frozenset({"admin"}), None)

    admin.require_role("write")
    reader.require_role("read")
    with pytest.raises(PermissionDenied, match="this token lacks the 'write' role"):
        reader.require_role("write")


def test_a_scoped_caller_sees_only_its_numbers() -> None:
    scoped = Principal(frozenset({"read"}), frozenset({"pn-1"}))
    everyone = Principal(frozenset({"read"}), None)

    assert (scoped.can_see("pn-1"), scoped.can_see("pn-9")) == (True, False)
    assert (everyone.can_see("pn-9"), everyone.visible_numbers()) == (True, None)


def test_outside_a_call_there_is_no_caller() -> None:
    with pytest.raises(Unauthenticated):
        current_principal()


# The interceptor ----------------------------------------------------------------------------


class Reporting(pb_grpc.ConversationQueriesServicer):
    """Answers with the caller it sees; `conversation_id` "write" needs the write role, and
    "slow" waits a little (so that calls overlap)."""

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.GetConversationResponse:
        caller = current_principal()
        if request.conversation_id == "write":
            caller.require_role("write")
        if request.conversation_id == "slow":
            await asyncio.sleep(0.05)
        numbers = caller.visible_numbers()
        seen = ",".join(sorted(caller.roles)) + "|" + ",".join(sorted(numbers or {"*"}))
        return pb.GetConversationResponse(conversation=pb.Conversation(id=seen))


@pytest.fixture(scope="module")
async def stub() -> AsyncIterator[pb_grpc.ConversationQueriesAsyncStub]:
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        tokens=TokenRegistry.parse(TOKENS),
        errors={},
        registrations=[
            Registration(
                pb_grpc.add_ConversationQueriesServicer_to_server,
                Reporting(),
                "threadline.analytics.v1.ConversationQueries",
            )
        ],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield pb_grpc.ConversationQueriesStub(channel)
    await server.stop(None)


async def seen_by_servicer(
    stub: pb_grpc.ConversationQueriesAsyncStub, token: str, conversation_id: str = "any"
) -> str:
    reply = await stub.GetConversation(
        pb.GetConversationRequest(conversation_id=conversation_id), metadata=bearer(token)
    )
    return reply.conversation.id


async def test_the_servicer_sees_the_callers_roles_and_numbers(
    stub: pb_grpc.ConversationQueriesAsyncStub,
) -> None:
    assert await seen_by_servicer(stub, READER) == "read|*"
    assert await seen_by_servicer(stub, SCOPED) == "read|pn-1,pn-2"


async def test_overlapping_calls_each_see_their_own_caller(
    stub: pb_grpc.ConversationQueriesAsyncStub,
) -> None:
    seen = await asyncio.gather(
        *(seen_by_servicer(stub, token, "slow") for token in (READER, WRITER, SCOPED, ADMIN) * 3)
    )

    assert seen == ["read|*", "read,write|*", "read|pn-1,pn-2", "admin|*"] * 3


@pytest.mark.parametrize(
    ("metadata", "details"),
    [
        ((), "missing 'authorization: Bearer <token>' metadata"),
        (bearer("nobody-knows-me"), "unknown bearer token"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), "missing 'authorization: Bearer"),
    ],
)
async def test_a_caller_without_a_known_token_is_unauthenticated(
    stub: pb_grpc.ConversationQueriesAsyncStub, metadata: tuple[tuple[str, str], ...], details: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.GetConversation(pb.GetConversationRequest(), metadata=metadata)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details in (refused.value.details() or "")


async def test_a_known_caller_without_the_role_is_permission_denied(
    stub: pb_grpc.ConversationQueriesAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await seen_by_servicer(stub, READER, "write")

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.details() == "this token lacks the 'write' role"
    assert await seen_by_servicer(stub, WRITER, "write") == "read,write|*"
    assert await seen_by_servicer(stub, ADMIN, "write") == "admin|*"
