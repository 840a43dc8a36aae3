"""Issue 8's reproductions, each through the whole platform: the hostile webhook is answered
200, what can be kept is kept, and a customer writing right after it is answered as usual.

Every case here once stopped the platform for every tenant (a stalled relay, a consumer retrying
forever, a 503 WhatsApp retries for days, an overflowing window). The unit-level regression
tests live beside the code that was fixed (ingest, messaging, session, analytics); this file
shows the platform as a whole keeps answering everyone else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import grpc
import pytest

from tests.conftest import PHONE_NUMBER_ID, Platform
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2, session_pb2_grpc
from threadline.sandbox.customer import build_inbound_text
from threadline.sandbox.identifiers import new_wamid
from threadline.sandbox.signing import sign
from threadline.testing import eventually

Message = dict[str, object]


@dataclass(frozen=True)
class Hostile:
    """A webhook from customer `wa_id` whose one message `change` makes hostile."""

    name: str
    change: Callable[[Message], None]
    kept: bool  # the hostile message itself is stored (cleaned), not dead-lettered
    raw: Callable[[bytes], bytes] = lambda body: body  # a last edit of the encoded body

    def body(self, wa_id: str) -> bytes:
        payload = build_inbound_text(
            PHONE_NUMBER_ID, "15550000077", wa_id, "Hostile", "placeholder", wamid=new_wamid()
        )
        value = payload["entry"][0]["changes"][0]["value"]  # type: ignore[index]
        self.change(value["messages"][0])
        return self.raw(json.dumps(payload).encode())


def _set(**fields: object) -> Callable[[Message], None]:
    return lambda message: message.update(fields)


def _location(message: Message) -> None:
    message.update(
        type="location", location={"latitude": "x" * 200_000, "longitude": "x" * 200_000}
    )
    del message["text"]


CASES = [
    # 1. A 0.4 MB location: its event exceeded NATS's payload and stalled the relay for all.
    Hostile("oversized location", _location, kept=True),
    # 1. A 400,000-character text: the fact exceeded the payload, 503 on every retry.
    Hostile("oversized text", _set(text={"body": "y" * 400_000}), kept=True),
    # 3. An unreadable 70,000-character timestamp, logged in full, hung `threadline up`.
    Hostile("giant timestamp", _set(timestamp="A" * 70_000), kept=False),
    # 5. A lone surrogate, as a JSON escape and as raw bytes: protobuf refused it (500).
    Hostile("lone surrogate escape", _set(text={"body": "a\ud800b"}), kept=True),
    Hostile(
        "lone surrogate bytes",
        _set(text={"body": "SURROGATE"}),
        kept=True,
        raw=lambda body: body.replace(b"SURROGATE", b"a\xed\xa0\x80b"),
    ),
    # 7. NUL and an infinite number: analytics dead-lettered the event (absent from reads).
    Hostile("NUL and 1e999", _set(text={"body": "a\u0000b"}, extra=1e999), kept=True),
    # 10. A 70,000-byte message id: longer than a Nats-Msg-Id may be, 503 forever.
    Hostile("giant message id", _set(id="wamid." + "A" * 70_000), kept=False),
]


async def _post(platform: Platform, body: bytes) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(body, platform.app_secret),
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(platform.webhook_url, data=body, headers=headers) as response,
    ):
        return response.status


async def _answered(platform: Platform, wa_id: str) -> None:
    """The customer's next message is answered by the assistant within seconds."""
    await customer_writes(platform, wa_id, "Hello, are you open today?")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) >= 1, timeout=20)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_hostile_webhook_is_answered_200_and_everyone_else_is_still_answered(
    platform: Platform, case: Hostile
) -> None:
    hostile_customer = customer_number()

    body = case.body(hostile_customer)

    assert await _post(platform, body) == 200
    # Meta delivers again (a retry, or at-least-once): the same answer, nothing twice.
    assert await _post(platform, body) == 200

    await _answered(platform, customer_number())
    if case.kept:
        # Kept, cleaned, and visible in the read models (not dead-lettered downstream).
        async def stored() -> bool:
            listed = await platform.analytics.ListConversations(
                pb.ListConversationsRequest(customer_phone=hostile_customer),
                metadata=platform.auth,
            )
            if len(listed.conversations) != 1:
                return False
            found = await conversation_of(platform, hostile_customer)
            return any(m.author == "customer" for m in found.messages)

        await eventually(stored, timeout=20)
        found = await conversation_of(platform, hostile_customer)
        hostile = [m for m in found.messages if m.author == "customer"]
        assert len(hostile) == 1  # the copy Meta retried is the same message
        assert len(hostile[0].content) <= 4096
        assert "\x00" not in hostile[0].content


def _voice_note_without_media_id(message: Message) -> None:
    message.update(type="audio", audio={"mime_type": "audio/ogg; codecs=opus", "voice": True})
    del message["text"]


async def test_a_voice_note_naming_no_media_id_does_not_hold_its_customers_next_message(
    platform: Platform,
) -> None:
    """Found by `make fuzz` (a voice note whose 65 KiB media id ingest cut away): outbound has
    nothing to fetch and dead-letters it, and the burst the customer's next message joined
    waited its whole minute for a transcript that could not come."""
    customer = customer_number()
    hostile = Hostile("voice note without a media id", _voice_note_without_media_id, kept=True)

    assert await _post(platform, hostile.body(customer)) == 200

    await _answered(platform, customer)


async def test_a_far_future_message_with_a_referral_still_lets_the_conversation_be_answered(
    platform: Platform,
) -> None:
    # 6. "timestamp": "253402300799" (9999-12-31): the window arithmetic overflowed, every
    # later AI draft for the conversation was dead-lettered, session-status answered 500, and
    # with a referral the message itself was dead-lettered after a 200 — lost.
    wa_id = customer_number()

    def far_future_referral(message: Message) -> None:
        message.update(
            timestamp="253402300799",
            referral={"source_url": "https://fb.me/ad", "source_type": "ad", "source_id": "1"},
        )

    assert (
        await _post(platform, Hostile("future", far_future_referral, kept=True).body(wa_id)) == 200
    )
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 1, timeout=20)

    # The same customer writes again: the conversation is answered again.
    await customer_writes(platform, wa_id, "And one more question")
    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 2, timeout=20)
    found = await conversation_of(platform, wa_id)
    assert [m.author for m in found.messages] == ["customer", "ai", "customer", "ai"]

    status = await platform.analytics.GetSessionStatus(
        pb.GetSessionStatusRequest(customer=wa_id, business_number=PHONE_NUMBER_ID),
        metadata=platform.auth,
    )
    assert status.window_active


async def test_operator_input_that_would_break_a_read_model_is_refused_naming_the_field(
    platform: Platform,
) -> None:
    # 2. A 3,000-character business number through SendMessage later made PostgreSQL refuse
    # analytics' index row, and analytics retried it forever for everyone.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        commands = session_pb2_grpc.SessionCommandsStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await commands.SendMessage(
                session_pb2.SendMessageRequest(
                    idempotency_key="k-1",
                    phone_number_id="1" * 3000,
                    customer_wa_id="15550001111",
                    content=common_pb2.MessageContent(type="text", text="hi"),
                ),
                metadata=platform.auth,
            )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "phone_number_id" in (refused.value.details() or "")
    assert len(refused.value.details() or "") < 1024

    await _answered(platform, customer_number())
