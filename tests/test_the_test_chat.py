"""Issue 13 item 4, the test chat, through all services and the gateway: a tester's message is
answered by the number's assistant (the offline model, and a flow started by its keyword, whose
buttons the tester taps), nothing reaches the sandbox's Graph API, the replies' statuses go sent →
delivered → read through the session as WhatsApp's do, and analytics lists the conversation under
channel `test` while keeping it out of the default metrics and export."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_number, customer_writes
from tests.test_flows_end_to_end import salon_configured, salon_diary  # noqa: F401 (fixture)
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc
from threadline.gateway.bootstrap import bootstrap as start_gateway
from threadline.gateway.config import GatewayConfig
from threadline.testing import eventually

PATH = f"/api/v1/test-chat/{PHONE_NUMBER_ID}/messages"


@pytest.fixture
async def gateway(platform: Platform) -> AsyncIterator[aiohttp.ClientSession]:
    """The gateway over the platform, as an HTTP client with the platform's token."""
    async with AsyncExitStack() as stack:
        running = await start_gateway(
            GatewayConfig(
                port=0,
                ops_port=0,
                analytics_grpc_address=f"127.0.0.1:{platform.analytics_grpc_port}",
                session_grpc_address=f"127.0.0.1:{platform.session_grpc_port}",
                media_root=platform.media_root,
            ),
            stack,
        )
        yield await stack.enter_async_context(
            aiohttp.ClientSession(
                f"http://127.0.0.1:{running.port}",
                headers={"Authorization": f"Bearer {platform.api_token}"},
            )
        )


async def sent_by_tester(http: aiohttp.ClientSession, body: dict[str, Any], key: str = "") -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    async with http.post(PATH, json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == 202, answer
        return answer


async def chat_of(http: aiohttp.ClientSession, tester: str) -> Any:
    async with http.get(PATH, params={"tester": tester}) as response:
        answer = await response.json()
        assert response.status == 200, answer
        return answer


async def assistant_replies(http: aiohttp.ClientSession, tester: str, count: int) -> list[Any]:
    """The assistant's messages of the tester's chat, once there are `count`, all read."""
    replies: list[Any] = []

    async def read() -> bool:
        nonlocal replies
        chat = await chat_of(http, tester)
        replies = [m for m in chat["messages"] if m["role"] == "assistant"]
        return len(replies) >= count and all(m["status"] == "read" for m in replies)

    await eventually(read, timeout=30)
    return replies


async def test_a_tester_is_answered_by_the_assistant_and_nothing_reaches_whatsapp(
    platform: Platform, gateway: aiohttp.ClientSession
) -> None:
    sent = await sent_by_tester(gateway, {"tester": "Marta", "text": "Hello! Are you open today?"})
    again = await sent_by_tester(
        gateway, {"tester": "Marta", "text": "Hello! Are you open today?"}, key="k-1"
    )
    repeated = await sent_by_tester(
        gateway, {"tester": "Marta", "text": "Hello! Are you open today?"}, key="k-1"
    )

    [first, *_] = await assistant_replies(gateway, "Marta", 1)
    chat = await chat_of(gateway, "Marta")
    assert chat["id"] == sent["conversation_id"] == again["conversation_id"]
    assert repeated == again  # the same key records nothing new
    customer = [m for m in chat["messages"] if m["role"] == "user"]
    assert [m["content"] for m in customer] == ["Hello! Are you open today?"] * 2
    assert first["author"] == "ai" and first["content"]
    assert first["wamid"].startswith("wamid.test.")
    assert platform.sandbox.outbox.messages() == []
    assert platform.sandbox.outbox.read_receipts() == []
    async with gateway.post(PATH, json={"tester": "Marta"}) as refused:
        assert refused.status == 400, await refused.text()
    async with gateway.get(PATH, params={"tester": "Nobody"}) as missing:
        assert missing.status == 404, await missing.text()


async def test_a_flow_started_by_its_keyword_runs_in_the_test_chat_with_taps(
    platform: Platform,
    gateway: aiohttp.ClientSession,
    salon_diary: tuple[str, list[Any]],  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    url, _ = salon_diary
    await salon_configured(platform, url, tmp_path)

    await sent_by_tester(gateway, {"tester": "Rui", "text": "book"})
    [asked] = await assistant_replies(gateway, "Rui", 1)
    await sent_by_tester(gateway, {"tester": "Rui", "text": "Rui"})
    [_, services] = await assistant_replies(gateway, "Rui", 2)
    await sent_by_tester(gateway, {"tester": "Rui", "reply": {"id": "cut", "title": "Haircut"}})
    [*_, day] = await assistant_replies(gateway, "Rui", 3)

    assert asked["author"] == "flow" and asked["content"].endswith("What is your name?")
    assert services["type"] == "interactive"
    assert services["content"] == "Thanks, Rui! Which service would you like?"
    assert day["content"].startswith("Which day?")
    assert platform.sandbox.outbox.messages() == []


async def test_the_test_chat_is_listed_under_its_channel_and_kept_out_of_default_metrics(
    platform: Platform, gateway: aiohttp.ClientSession
) -> None:
    wa_id = customer_number()
    await customer_writes(platform, wa_id, "Hello from WhatsApp")
    sent = await sent_by_tester(gateway, {"tester": "Lia", "text": "Hello from the console"})
    await assistant_replies(gateway, "Lia", 1)
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)

    async def listed(channel: str) -> list[str]:
        found = await platform.analytics.ListConversations(
            pb.ListConversationsRequest(channel=channel, size=100), metadata=platform.auth
        )
        return [c.id for c in found.conversations]

    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.analytics_grpc_port}") as channel:
        metrics = pb_grpc.MetricsStub(channel)

        async def counted(channel: str) -> int:
            report = await metrics.GetMetrics(
                pb.GetMetricsRequest(filter=pb.ConversationFilter(channel=channel)),
                metadata=platform.auth,
            )
            return report.total_conversations

        async def exported(channel: str) -> list[str]:
            chunks = metrics.ExportConversations(
                pb.ExportConversationsRequest(filter=pb.ConversationFilter(channel=channel)),
                metadata=platform.auth,
            )
            data = b"".join([chunk.data async for chunk in chunks]).decode()
            return [row["id"] for row in csv.DictReader(io.StringIO(data))]

        tests, whatsapp = await listed("test"), await listed("whatsapp")
        assert sent["conversation_id"] in tests and sent["conversation_id"] not in whatsapp
        assert sent["conversation_id"] in await listed("")  # the inbox lists every channel
        assert await counted("") == await counted("whatsapp") == len(whatsapp)
        assert await counted("test") == len(tests)
        assert sent["conversation_id"] not in await exported("")
        assert sent["conversation_id"] in await exported("test")
