"""One WhatsApp message through all five services and back, on real NATS and PostgreSQL."""

from __future__ import annotations

import aiohttp

from tests.conftest import PHONE_NUMBER_ID, Platform
from threadline.ai_responder.adapters.outbound.models.offline import OFFLINE_TEXT
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.sandbox.customer import send_inbound
from threadline.testing import eventually, unique_id


def customer_number() -> str:
    """A fresh customer phone number (digits only, as WhatsApp's wa_id)."""
    return "1555" + str(int(unique_id(), 16) % 10**7).zfill(7)


async def customer_writes(platform: Platform, wa_id: str, text: str) -> str:
    async with aiohttp.ClientSession() as http:
        status, wamid = await send_inbound(
            http,
            platform.webhook_url,
            platform.app_secret,
            phone_number_id=PHONE_NUMBER_ID,
            display_phone_number="15550000077",
            wa_id=wa_id,
            profile_name="Ana Souza",
            text=text,
        )
    assert status == 200
    return wamid


async def conversation_of(platform: Platform, wa_id: str) -> pb.GetConversationResponse:
    listed = await platform.analytics.ListConversations(
        pb.ListConversationsRequest(customer_phone=wa_id), metadata=platform.auth
    )
    assert len(listed.conversations) == 1, listed
    return await platform.analytics.GetConversation(
        pb.GetConversationRequest(conversation_id=listed.conversations[0].id),
        metadata=platform.auth,
    )


async def test_a_customer_message_gets_a_reply_that_is_delivered_and_read(
    platform: Platform,
) -> None:
    wa_id = customer_number()

    wamid = await customer_writes(platform, wa_id, "Hello! Do you deliver on Saturdays?")

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)
    sent = platform.sandbox.outbox.messages(to=wa_id)[0]

    async def reply_was_read() -> bool:
        found = await conversation_of(platform, wa_id)
        return [m.status for m in found.messages] == ["received", "read"]

    await eventually(reply_was_read, timeout=20)
    found = await conversation_of(platform, wa_id)
    customer, reply = found.messages
    assert (customer.role, customer.author, customer.content, customer.wamid) == (
        "user",
        "customer",
        "Hello! Do you deliver on Saturdays?",
        wamid,
    )
    assert (reply.role, reply.author, reply.wamid) == ("assistant", "ai", sent.wamid)
    assert reply.content == sent.request["text"]["body"]  # type: ignore[index]
    assert reply.content == OFFLINE_TEXT  # the offline model says it is offline
    assert found.conversation.message_count == 2
    assert found.conversation.session_key == f"whatsapp_+{wa_id}"
    assert found.conversation.business_number == PHONE_NUMBER_ID
