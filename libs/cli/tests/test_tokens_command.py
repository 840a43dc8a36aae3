"""`threadline tokens create/list/revoke` against the real session service (gRPC, NATS,
PostgreSQL): the secret printed once works as a bearer token within moments, the list shows no
secret, and once revoked the token is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import grpc
import pytest

from threadline.cli.main import main
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig
from threadline.testing import eventually

ADMIN, TENANT = "tokens-admin", "tokens-tenant"
NUMBER = "109000000000001"


@pytest.fixture
async def session_address(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    config = SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(TENANT)}:admin:{NUMBER}",
        grpc_port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        address = f"127.0.0.1:{service.grpc_port}"
        monkeypatch.setenv("THREADLINE_SESSION_GRPC_ADDRESS", address)
        monkeypatch.setenv("THREADLINE_API_TOKEN", ADMIN)
        yield address


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def templates_code(address: str, secret: str) -> grpc.StatusCode:
    """What the session answers a read with `secret` (OK when it is honoured)."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            await pb_grpc.SessionCommandsStub(channel).ListTemplates(
                pb.ListTemplatesRequest(phone_number_id=NUMBER),
                metadata=(("authorization", f"Bearer {secret}"),),
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def test_create_prints_the_secret_once_then_list_and_revoke(
    session_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await threadline(
        "tokens", "create", "dashboard", "--roles", "read", "--numbers", NUMBER, capsys=capsys
    )

    assert (code, err) == (0, "")
    first, _, secret = out.strip().splitlines()
    token_id = first.split()[1]
    assert first == f"created {token_id} 'dashboard': roles read, numbers {NUMBER}"
    assert secret.startswith("tl_")

    async def honoured() -> bool:
        return await templates_code(session_address, secret) == grpc.StatusCode.OK

    await eventually(honoured)
    code, out, _ = await threadline("tokens", "list", capsys=capsys)
    assert code == 0 and secret not in out and hash_token(secret) not in out
    [header, row] = out.strip().splitlines()
    assert header.split() == ["ID", "ROLES", "NUMBERS", "ISSUED", "REVOKED", "ISSUED_BY", "NAME"]
    assert row.split()[:3] == [token_id, "read", NUMBER] and row.split()[-3] == "-"
    assert row.split()[-2].startswith("env:") and row.split()[-1] == "dashboard"

    code, out, _ = await threadline("tokens", "revoke", token_id, capsys=capsys)
    again = await threadline("tokens", "revoke", token_id, capsys=capsys)

    assert (code, out) == (0, f"revoked {token_id} 'dashboard'\n")
    assert again[:2] == (0, f"already revoked {token_id} 'dashboard'\n")

    async def refused() -> bool:
        return await templates_code(session_address, secret) == grpc.StatusCode.UNAUTHENTICATED

    await eventually(refused)
    assert (await threadline("tokens", "list", capsys=capsys))[1] == "no tokens\n"
    listed = await threadline("tokens", "list", "--all", capsys=capsys)
    assert token_id in listed[1] and "dashboard" in listed[1]


async def test_a_token_cannot_create_more_than_it_has(
    session_address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREADLINE_API_TOKEN", TENANT)

    code, out, err = await threadline(
        "tokens", "create", "wide", "--roles", "read", "--numbers", "*", capsys=capsys
    )
    unknown = await threadline("tokens", "revoke", "tok_nothing", capsys=capsys)
    missing = await threadline(
        "tokens", "create", "x", "--roles", "", "--numbers", "*", capsys=capsys
    )

    assert (code, out) == (1, "")
    assert err.startswith("threadline tokens create: PERMISSION_DENIED: a token may not get more")
    assert "every number ('*')" in err
    assert unknown[0] == 1 and "NOT_FOUND" in unknown[2]
    assert missing[0] == 2 and "needs --roles and --numbers" in missing[2]
