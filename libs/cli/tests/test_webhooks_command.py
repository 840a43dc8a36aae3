"""`threadline webhooks set|list|remove` against the real session service (gRPC, NATS,
PostgreSQL), found as `threadline flows` finds it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from threadline.cli.main import main
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig

ADMIN, READER = "webhooks-admin", "webhooks-reader"
NUMBER = "109000000000001"
URL = "https://hooks.example.com/threadline"


@pytest.fixture
async def session_address(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    config = SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(READER)}:read:{NUMBER}",
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


SET = (
    *("webhooks", "set", "escalations", "--number", NUMBER, "--url", URL),
    *("--secret-ref", "THREADLINE_WEBHOOK_SECRET"),
)


async def test_set_list_and_remove(
    session_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = await threadline(*SET, "--events", "conversation.escalated", capsys=capsys)
    unchanged = await threadline(*SET, "--events", "conversation.escalated", capsys=capsys)
    updated = await threadline(
        *SET, "--events", "conversation.escalated,customer.waiting", capsys=capsys
    )
    listed = await threadline("webhooks", "list", capsys=capsys)
    removed = await threadline("webhooks", "remove", "escalations", capsys=capsys)
    empty = await threadline("webhooks", "list", capsys=capsys)

    assert created == (0, "created escalations v1\n", "")
    assert unchanged == (0, "unchanged escalations v1\n", "")
    assert updated == (0, "updated escalations v2\n", "")
    header, row = listed[1].splitlines()
    assert header.split() == ["ID", "VERSION", "NUMBER", "ENABLED", "EVENTS", "SECRET_REF", "URL"]
    assert row.split() == [
        *("escalations", "v2", NUMBER, "yes", "conversation.escalated,customer.waiting"),
        *("THREADLINE_WEBHOOK_SECRET", URL),
    ]
    assert removed == (0, "removed escalations v3\n", "")
    assert empty == (0, "no webhooks\n", "")


async def test_refusals_name_the_field_and_the_role(
    session_address: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    invalid = await threadline(*SET, "--events", "conversation.exploded", capsys=capsys)
    monkeypatch.setenv("THREADLINE_API_TOKEN", READER)
    reader = await threadline(*SET, "--events", "customer.waiting", capsys=capsys)

    assert invalid[0] == 1
    assert invalid[2].startswith(
        "threadline webhooks set: INVALID_ARGUMENT: events: unknown 'conversation.exploded'"
    )
    assert reader[0] == 1
    assert reader[2].startswith("threadline webhooks set: PERMISSION_DENIED:")
