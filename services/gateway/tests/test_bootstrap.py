"""The gateway as `bootstrap` builds it, in front of stand-in gRPC servers: its readiness is
that of both upstreams."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from threadline.contracts.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from threadline.contracts.session.v1 import session_pb2, session_pb2_grpc
from threadline.gateway.__main__ import main
from threadline.gateway.bootstrap import RunningGateway, bootstrap
from threadline.gateway.config import GatewayConfig
from threadline.servicekit.auth import TokenRegistry
from threadline.servicekit.grpc_kit import Registration, start_grpc_server

NOBODY = "127.0.0.1:1"  # nothing listens on port 1

QUERIES = Registration(
    add_to_server=analytics_pb2_grpc.add_ConversationQueriesServicer_to_server,
    servicer=analytics_pb2_grpc.ConversationQueriesServicer(),
    service_name=analytics_pb2.DESCRIPTOR.services_by_name["ConversationQueries"].full_name,
)
COMMANDS = Registration(
    add_to_server=session_pb2_grpc.add_SessionCommandsServicer_to_server,
    servicer=session_pb2_grpc.SessionCommandsServicer(),
    service_name=session_pb2.DESCRIPTOR.services_by_name["SessionCommands"].full_name,
)


async def grpc_server(stack: AsyncExitStack, *registrations: Registration) -> str:
    """A gRPC server as the platform's are built (health included) serving `registrations`."""
    server, port = await start_grpc_server(
        host="127.0.0.1",
        port=0,
        registrations=registrations,
        tokens=TokenRegistry.parse(""),
        errors={},
    )
    stack.push_async_callback(server.stop, None)
    return f"127.0.0.1:{port}"


async def readiness(gateway: RunningGateway) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{gateway.ops_port}/readyz"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


def config(*, analytics: str, session: str) -> GatewayConfig:
    return GatewayConfig(
        port=0, ops_port=0, analytics_grpc_address=analytics, session_grpc_address=session
    )


async def test_the_gateway_is_ready_when_both_upstreams_serve_what_it_calls(
    stack: AsyncExitStack,
) -> None:
    analytics = await grpc_server(stack, QUERIES)
    session = await grpc_server(stack, COMMANDS)
    gateway = await bootstrap(config(analytics=analytics, session=session), stack)

    status, body = await readiness(gateway)

    assert (status, body) == (200, {"ready": True, "problems": {}})


async def test_an_unreachable_session_makes_the_gateway_unready_and_says_so(
    stack: AsyncExitStack,
) -> None:
    analytics = await grpc_server(stack, QUERIES)
    gateway = await bootstrap(config(analytics=analytics, session=NOBODY), stack)

    status, body = await readiness(gateway)

    assert status == 503
    assert body["problems"] == {"session": f"session at {NOBODY} is unreachable: UNAVAILABLE"}


async def test_an_upstream_that_does_not_serve_the_api_makes_the_gateway_unready(
    stack: AsyncExitStack,
) -> None:
    # Both addresses swapped: each server answers, but not with the API the gateway calls.
    analytics = await grpc_server(stack, QUERIES)
    session = await grpc_server(stack, COMMANDS)
    gateway = await bootstrap(config(analytics=session, session=analytics), stack)

    status, body = await readiness(gateway)

    assert status == 503
    assert body["problems"] == {
        "analytics": f"analytics at {session} does not serve {QUERIES.service_name}",
        "session": f"session at {analytics} does not serve {COMMANDS.service_name}",
    }


async def test_the_gateway_serves_its_api_even_before_its_upstreams_are_there(
    stack: AsyncExitStack,
) -> None:
    gateway = await bootstrap(config(analytics=NOBODY, session=NOBODY), stack)
    url = f"http://127.0.0.1:{gateway.port}/api/v1/conversations"

    async with aiohttp.ClientSession() as http, http.get(url) as response:
        status, body = response.status, await response.json()

    assert (status, body["error"]["code"]) == (401, "UNAUTHENTICATED")


def test_the_entry_point_refuses_a_malformed_port_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THREADLINE_GATEWAY_PORT", "70000")
    root = logging.getLogger()  # the entry point configures logging: put it back afterwards
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)

    with pytest.raises(SystemExit) as exited:
        main()

    assert exited.value.code == 2
    assert "THREADLINE_GATEWAY_PORT" in capsys.readouterr().err
