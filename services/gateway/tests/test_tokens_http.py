"""Managed API tokens through the gateway (issue 13 item 2) against the real session and
analytics (gRPC, NATS, the machine's PostgreSQL): a token issued by POST /api/v1/tokens is
honoured by analytics behind GET /api/v1/conversations within seconds, listed without its
secret, and refused (401) within seconds of DELETE /api/v1/tokens/{id}; the analytics gRPC
server refuses it too. Only admins manage tokens, never beyond their own scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from threadline.analytics.bootstrap import bootstrap as start_analytics
from threadline.analytics.config import AnalyticsConfig
from threadline.contracts.analytics.v1 import analytics_pb2 as analytics_pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as analytics_grpc
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.servicekit.auth import TokenRegistry, hash_token
from threadline.session.bootstrap import bootstrap as start_session
from threadline.session.config import SessionConfig
from threadline.testing import eventually

ADMIN, TENANT, READER = "tokens-http-admin", "tokens-http-tenant", "tokens-http-reader"
NUMBER = "109000000000001"
TOKENS = (
    f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(TENANT)}:read,admin:{NUMBER};"
    f"{hash_token(READER)}:read:*"
)
Json = dict[str, Any]


@dataclass
class Platform:
    http: aiohttp.ClientSession
    analytics_address: str

    async def call(
        self, method: str, path: str, token: str, body: Json | None = None, **params: str
    ) -> tuple[int, Json]:
        async with self.http.request(
            method, path, json=body, params=params, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status, await response.json()

    async def analytics_code(self, token: str) -> grpc.StatusCode:
        """What analytics' gRPC server answers `token` directly."""
        async with grpc.aio.insecure_channel(self.analytics_address) as channel:
            try:
                await analytics_grpc.ConversationQueriesStub(channel).ListConversations(
                    analytics_pb.ListConversationsRequest(),
                    metadata=(("authorization", f"Bearer {token}"),),
                )
            except grpc.aio.AioRpcError as error:
                return error.code()
        return grpc.StatusCode.OK


@pytest.fixture
async def platform(
    nats_server_url: str, nats_namespace: str, database_url: str, tmp_path: Path
) -> AsyncIterator[Platform]:
    async with AsyncExitStack() as stack:
        session = await start_session(
            SessionConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                api_tokens=TOKENS,
                grpc_port=0,
                ops_port=0,
            ),
            stack,
        )
        analytics = await start_analytics(
            AnalyticsConfig(
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
                database_url=database_url,
                tokens=TokenRegistry.parse(TOKENS),
                grpc_port=0,
                ops_port=0,
                batch_size=50,
            ),
            stack,
        )
        gateway = await start_gateway(
            GatewayConfig.from_env(
                {
                    "THREADLINE_GATEWAY_PORT": "0",
                    "THREADLINE_GATEWAY_OPS_PORT": "0",
                    "THREADLINE_ANALYTICS_GRPC_ADDRESS": analytics.grpc_address,
                    "THREADLINE_SESSION_GRPC_ADDRESS": f"127.0.0.1:{session.grpc_port}",
                    "THREADLINE_MEDIA_STORE": "fs",
                    "THREADLINE_MEDIA_ROOT": str(tmp_path / "media"),
                }
            ),
            stack,
        )
        http = aiohttp.ClientSession(f"http://127.0.0.1:{gateway.port}")
        stack.push_async_callback(http.close)
        yield Platform(http, analytics.grpc_address)


async def test_a_token_is_issued_honoured_listed_and_refused_once_revoked(
    platform: Platform,
) -> None:
    status, issued = await platform.call(
        "POST", "/api/v1/tokens", ADMIN, {"name": "reporting", "roles": ["read"], "numbers": "*"}
    )
    assert status == 201, issued
    secret, token = issued["secret"], issued["token"]
    assert secret.startswith("tl_")
    assert {k: token[k] for k in ("name", "roles", "numbers", "revoked", "revoked_at")} == {
        "name": "reporting",
        "roles": ["read"],
        "numbers": ["*"],
        "revoked": False,
        "revoked_at": None,
    }

    async def conversations_answer(expected: int) -> bool:
        status, _ = await platform.call("GET", "/api/v1/conversations", secret)
        return status == expected

    await eventually(lambda: conversations_answer(200))
    assert await platform.analytics_code(secret) == grpc.StatusCode.OK

    status, listed = await platform.call("GET", "/api/v1/tokens", ADMIN)
    assert status == 200
    assert [t["id"] for t in listed["tokens"]] == [token["id"]]
    assert secret not in str(listed) and hash_token(secret) not in str(listed)

    status, revoked = await platform.call("DELETE", f"/api/v1/tokens/{token['id']}", ADMIN)
    assert status == 200, revoked
    assert (revoked["changed"], revoked["token"]["revoked"]) == (True, True)
    assert revoked["token"]["revoked_by"] == f"env:{hash_token(ADMIN)[:12]}"

    await eventually(lambda: conversations_answer(401))
    assert await platform.analytics_code(secret) == grpc.StatusCode.UNAUTHENTICATED
    assert (await platform.call("GET", "/api/v1/tokens", ADMIN))[1] == {"tokens": []}
    status, every = await platform.call("GET", "/api/v1/tokens", ADMIN, include_revoked="true")
    assert [t["id"] for t in every["tokens"]] == [token["id"]]


async def test_only_admins_manage_tokens_within_their_scope(platform: Platform) -> None:
    not_admin = await platform.call(
        "POST", "/api/v1/tokens", READER, {"name": "x", "roles": ["read"], "numbers": "*"}
    )
    wider = await platform.call(
        "POST", "/api/v1/tokens", TENANT, {"name": "x", "roles": ["read"], "numbers": "*"}
    )
    more_roles = await platform.call(
        "POST", "/api/v1/tokens", TENANT, {"name": "x", "roles": ["write"], "numbers": [NUMBER]}
    )
    unknown_role = await platform.call(
        "POST", "/api/v1/tokens", ADMIN, {"name": "x", "roles": ["root"], "numbers": "*"}
    )
    malformed = await platform.call(
        "POST", "/api/v1/tokens", ADMIN, {"name": "x", "roles": "read", "numbers": "*"}
    )
    extra = await platform.call(
        "POST", "/api/v1/tokens", ADMIN, {"name": "x", "roles": ["read"], "numbers": "*", "a": 1}
    )
    missing = await platform.call("DELETE", "/api/v1/tokens/tok_nothing", ADMIN)
    anonymous = await platform.call("GET", "/api/v1/tokens", "")

    assert not_admin[0] == 403
    assert wider[0] == 403 and "every number" in wider[1]["error"]["message"]
    assert more_roles[0] == 201  # admin implies write, on its own number
    assert (
        unknown_role[0] == 400 and "roles: unknown ['root']" in unknown_role[1]["error"]["message"]
    )
    assert malformed[0] == 400 and malformed[1]["error"]["message"] == (
        "roles must be a list of strings"
    )
    assert extra[0] == 400 and "unknown field 'a'" in extra[1]["error"]["message"]
    assert missing[0] == 404
    assert anonymous[0] == 401
