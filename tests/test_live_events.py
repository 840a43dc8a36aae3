"""The console's live updates (`GET /api/v1/events`) through a gateway reading the platform's
NATS: a customer's message reaches an open stream as a `conversation` event naming the
conversation, a stream whose token is scoped to another business number hears nothing of this
one's conversations, and a stream without a known token is refused before it starts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

from tests.conftest import Platform
from tests.test_end_to_end import customer_number, customer_writes
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.gateway.adapters.inbound.http.live import UNKNOWN_RETRY_SECONDS
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.sandbox.customer import send_inbound
from threadline.testing import eventually


@pytest.fixture
async def gateway_url(
    platform: Platform, nats_server_url: str, nats_namespace: str
) -> AsyncIterator[str]:
    async with AsyncExitStack() as stack:
        gateway = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=f"127.0.0.1:{platform.analytics_grpc_port}",
                session_grpc_address=f"127.0.0.1:{platform.session_grpc_port}",
                media_root=platform.media_root,
                nats_url=nats_server_url,
                nats_namespace=nats_namespace,
            ),
            stack,
        )
        yield f"http://127.0.0.1:{gateway.port}"


async def events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """(event name, data) of each event of a server-sent events stream."""
    name, data = "message", ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, json.loads(data)
            name, data = "message", ""
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


async def test_a_customer_message_reaches_an_open_stream(
    platform: Platform, gateway_url: str
) -> None:
    wa_id = customer_number()
    headers = {"Authorization": f"Bearer {platform.api_token}"}
    async with (
        aiohttp.ClientSession(gateway_url, timeout=aiohttp.ClientTimeout(total=60)) as http,
        http.get("/api/v1/events", headers=headers) as stream,
    ):
        assert stream.status == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        await customer_writes(platform, wa_id, "Hello from the live test")
        seen: list[dict[str, str]] = []
        async for name, data in events(stream):
            assert name == "conversation", (name, data)
            seen.append(data)
            if data["event_type"] == "Conversation.CustomerMessageReceived":
                break
    listed = await platform.analytics.ListConversations(
        pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    assert {d["conversation_id"] for d in seen} == {listed.conversations[0].id}


OTHER_NUMBER = "109000000000099"  # another business on the same platform


async def _conversation_of(platform: Platform, wa_id: str) -> str:
    found: list[str] = []

    async def listed() -> bool:
        answer = await platform.analytics.ListConversations(
            pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
        )
        found[:] = [c.id for c in answer.conversations]
        return bool(found)

    await eventually(listed, timeout=15)
    return found[0]


async def test_a_stream_hears_only_the_conversations_of_its_tokens_numbers(
    platform: Platform, gateway_url: str
) -> None:
    admin = {"Authorization": f"Bearer {platform.api_token}"}
    async with aiohttp.ClientSession(gateway_url, timeout=aiohttp.ClientTimeout(total=90)) as http:
        async with http.post(
            "/api/v1/tokens",
            headers=admin,
            json={"name": "other business", "roles": ["read"], "numbers": [OTHER_NUMBER]},
        ) as issued:
            assert issued.status == 201, await issued.text()
            tenant = {"Authorization": f"Bearer {(await issued.json())['secret']}"}

        async def accepted() -> bool:  # every process learns a new token within seconds
            async with http.get("/api/v1/conversations", headers=tenant) as answer:
                return answer.status == 200

        await eventually(accepted, timeout=15)
        async with (
            http.get("/api/v1/events", headers=tenant) as tenant_stream,
            http.get("/api/v1/events", headers=admin) as admin_stream,
        ):
            assert tenant_stream.status == admin_stream.status == 200
            ours = customer_number()
            await customer_writes(platform, ours, "Hello, first business")
            ours_id = await _conversation_of(platform, ours)
            async for _, data in events(admin_stream):  # the event went out to every stream
                if data["conversation_id"] == ours_id:
                    break
            theirs = customer_number()
            status, _ = await send_inbound(
                http,
                platform.webhook_url,
                platform.app_secret,
                phone_number_id=OTHER_NUMBER,
                display_phone_number="15550000099",
                wa_id=theirs,
                profile_name="Bea",
                text="Hello, other business",
            )
            assert status == 200
            theirs_id = await _conversation_of(platform, theirs)
            heard: list[str] = []
            # Until the tenant's own conversation shows, then past the time the stream keeps
            # asking about a conversation analytics does not show it (it is dropped after).
            deadline: float | None = None
            reading = events(tenant_stream)
            while deadline is None or time.monotonic() < deadline:
                wait = 30.0 if deadline is None else max(deadline - time.monotonic(), 0.01)
                try:
                    _, data = await asyncio.wait_for(anext(reading), wait)
                except TimeoutError:
                    break
                heard.append(data["conversation_id"])
                if data["conversation_id"] == theirs_id and deadline is None:
                    deadline = time.monotonic() + sum(UNKNOWN_RETRY_SECONDS) + 2
    assert theirs_id in heard
    assert ours_id not in heard


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_a_stream_without_a_known_token_is_refused(
    gateway_url: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with (
        aiohttp.ClientSession(gateway_url) as http,
        http.get("/api/v1/events", headers=headers) as response,
    ):
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHENTICATED"


async def test_the_console_page_and_its_files_are_served_and_nothing_else(
    gateway_url: str,
) -> None:
    async with aiohttp.ClientSession(gateway_url) as http:
        async with http.get("/") as page:
            assert page.status == 200
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            assert '<script type="module" src="/console/app.js">' in await page.text()
        for name in ("app.js", "api.js", "charts.js", "style.css"):
            async with http.get(f"/console/{name}") as served:
                assert served.status == 200, name
        async with http.get("/console/..%2Fconsole.py") as refused:
            assert refused.status == 404
