"""An operator's interactive message that breaks WhatsApp's limits is refused over real gRPC
(INVALID_ARGUMENT naming the limit), before it is queued: Meta would refuse it later."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import grpc
import pytest
from nats.js import JetStreamContext

from threadline.contracts.events.v1 import common_pb2, ingest_pb2
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.messaging.topology import INBOUND_MESSAGE_RECEIVED, Topology
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import RunningSession, bootstrap
from threadline.session.config import SessionConfig
from threadline.session.domain.identity import contact_id
from threadline.testing import eventually

NUMBER, CUSTOMER = "pn-limits", "15550002222"
METADATA = (("authorization", "Bearer operator"),)


@dataclass
class Session:
    service: RunningSession
    commands: pb_grpc.SessionCommandsStub
    js: JetStreamContext
    topology: Topology

    async def customer_writes(self) -> UUID:
        """The conversation the customer's first message opened (its window open)."""
        fact = ingest_pb2.InboundMessageReceived(
            wamid=f"wamid.{uuid4().hex}",
            phone_number_id=NUMBER,
            customer=common_pb2.CustomerIdentity(wa_id=CUSTOMER, profile_name="Ana"),
            content=common_pb2.MessageContent(type="text", text="hello"),
        )
        fact.sent_at.FromDatetime(datetime.now(UTC))
        fact.received_at.FromDatetime(datetime.now(UTC))
        await self.js.publish(
            self.topology.publish_subject(INBOUND_MESSAGE_RECEIVED, phone_number_id=NUMBER),
            fact.SerializeToString(),
            headers={"Nats-Msg-Id": fact.wamid},
        )
        found: list[UUID] = []

        def opened() -> bool:
            try:
                contact = self.service.app.repository.get(contact_id(NUMBER, CUSTOMER, ""))
            except Exception:  # not stored yet
                return False
            if contact.open_conversation_id is not None:
                found.append(contact.open_conversation_id)
            return bool(found)

        await eventually(opened, timeout=15)
        return found[-1]

    async def send(self, conversation: UUID, interactive: Any, key: str) -> grpc.StatusCode:
        request = pb.SendMessageRequest(
            conversation_id=str(conversation),
            idempotency_key=key,
            author="agent",
            content=common_pb2.MessageContent(
                type="interactive", payload_json=json.dumps(interactive)
            ),
        )
        try:
            await self.commands.SendMessage(request, metadata=METADATA)
        except grpc.aio.AioRpcError as error:
            self.details = error.details()
            return error.code()
        return grpc.StatusCode.OK

    details: str | None = None


@pytest.fixture
async def session(
    session_config: Callable[..., SessionConfig], js: JetStreamContext, nats_namespace: str
) -> AsyncIterator[Session]:
    config = session_config(api_tokens=f"{hash_token('operator')}:read,write,admin:*")
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.grpc_port}")
        stack.push_async_callback(channel.close)
        yield Session(service, pb_grpc.SessionCommandsStub(channel), js, Topology(nats_namespace))


def buttons(*titles: str) -> dict[str, Any]:
    return {
        "type": "button",
        "body": {"text": "When would you like to come?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"slot-{i}", "title": title}}
                for i, title in enumerate(titles)
            ]
        },
    }


def a_list(rows: int, *, title: str = "Cut") -> dict[str, Any]:
    return {
        "type": "list",
        "body": {"text": "Pick a service"},
        "action": {
            "button": "Services",
            "sections": [{"rows": [{"id": f"r{i}", "title": title} for i in range(rows)]}],
        },
    }


async def test_an_operators_four_button_message_is_refused_naming_the_limit(
    session: Session,
) -> None:
    conversation = await session.customer_writes()

    code = await session.send(conversation, buttons("Mon", "Tue", "Wed", "Thu"), "four")

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert session.details == "interactive.action.buttons: at most 3 buttons, got 4"
    assert len(session.service.app.repository.get(conversation).messages) == 1  # only hers


@pytest.mark.parametrize(
    ("interactive", "expected"),
    [
        (buttons("A very long button title"), "reply.title: at most 20 characters, got 24"),
        (buttons("Yes", "Yes"), "button titles must be unique"),
        (a_list(11), "at most 10 rows in all, got 11"),
        (a_list(2, title="A row title that is far too long"), "title: at most 24 characters"),
        ({"type": "cta_url", "body": {"text": "Book"}, "action": {}}, "name: must be 'cta_url'"),
        ({"type": "carousel"}, "interactive.type: one of"),
    ],
)
async def test_interactive_content_breaking_a_limit_is_an_invalid_argument(
    session: Session, interactive: Any, expected: str
) -> None:
    conversation = await session.customer_writes()

    code = await session.send(conversation, interactive, "bad")

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert session.details is not None and expected in session.details, session.details


async def test_interactive_content_within_the_limits_is_queued(session: Session) -> None:
    conversation = await session.customer_writes()

    three = await session.send(conversation, buttons("Mon", "Tue", "Wed"), "three")
    ten = await session.send(conversation, a_list(10), "ten")

    assert (three, ten) == (grpc.StatusCode.OK, grpc.StatusCode.OK)
