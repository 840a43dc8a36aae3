"""Issue 11 item 7 against the WhatsApp sandbox's own limits (item 9): the sandbox takes only 10
messages a second from the business number and one per 2 s to one customer, answering Meta's
130429 and 131056 past them, while outbound is configured for WhatsApp's default 80/s. Every
message still reaches its customer, once, in the order it was queued, and none is failed:
the refusals slow the sender down instead."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import customer_number
from tests.test_media_end_to_end import customer_sends, session_events
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.sandbox.throughput import PAIR_RATE_CODE, THROUGHPUT_CODE
from threadline.testing import eventually, unique_id

CUSTOMERS = 12
PARTS = 3


@pytest.fixture
def sandbox_limits() -> dict[str, Any]:
    return {"throughput_per_second": 10, "pair_limit": 1, "pair_window_s": 2.0}


async def conversations_of(platform: Platform, customers: list[str]) -> dict[str, str]:
    """Each customer's conversation id, once the session has started them all."""
    found: dict[str, str] = {}

    async def started() -> bool:
        for event in await session_events(platform):
            if event.HasField("conversation_started"):
                wa_id = event.conversation_started.customer.wa_id
                if wa_id in customers:
                    found[wa_id] = event.aggregate_id
        return len(found) == len(customers)

    await eventually(started, timeout=30)
    return found


async def test_refusals_for_throughput_and_pair_rate_slow_the_sender_without_loss_or_reordering(
    platform: Platform,
) -> None:
    customers = [customer_number() for _ in range(CUSTOMERS)]
    for wa_id in customers:
        await customer_sends(
            platform, wa_id, {"phone_number_id": PHONE_NUMBER_ID, "type": "text", "text": "hi"}
        )
    conversations = await conversations_of(platform, customers)
    # Each customer's first answer is the assistant's; wait for them so the operator's texts
    # below are the only thing queued after it.
    await eventually(
        lambda: all(platform.sandbox.outbox.messages(to=wa_id) for wa_id in customers), timeout=60
    )

    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        commands = session_grpc.SessionCommandsStub(channel)
        for part in range(PARTS):  # interleaved, so every recipient has sends waiting at once
            for wa_id in customers:
                await commands.SendMessage(
                    session_pb.SendMessageRequest(
                        conversation_id=conversations[wa_id],
                        content=common_pb2.MessageContent(type="text", text=f"part {part}"),
                        idempotency_key=unique_id("op-"),
                    ),
                    metadata=platform.auth,
                )

    def operator_texts(wa_id: str) -> list[str]:
        texts = [
            str(m.request["text"]["body"])  # type: ignore[index]
            for m in platform.sandbox.outbox.messages(to=wa_id)
            if m.request.get("type") == "text"
        ]
        return [text for text in texts if text.startswith("part ")]

    await eventually(
        lambda: all(len(operator_texts(wa_id)) >= PARTS for wa_id in customers), timeout=120
    )
    expected = [f"part {part}" for part in range(PARTS)]
    for wa_id in customers:
        assert operator_texts(wa_id) == expected  # each once, in order
        assert len(platform.sandbox.outbox.messages(to=wa_id)) == 1 + PARTS
    refused = platform.sandbox.throughput.refused
    assert refused[THROUGHPUT_CODE] > 0, refused
    assert refused[PAIR_RATE_CODE] > 0, refused
    failed = [
        e for e in await session_events(platform) if e.HasField("outbound_message_dispatch_failed")
    ]
    assert failed == []
