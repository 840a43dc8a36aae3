"""Issue 11 item 8 through all services and the WhatsApp sandbox: an operator's reply quotes the
customer's question and a file quotes the assistant's earlier reply; the customer (the sandbox)
receives each with `context.message_id` naming the quoted message's wamid, and the conversation
shows the file by its name and what each message quotes."""

from __future__ import annotations

import json

import grpc

from tests.conftest import Platform
from tests.test_end_to_end import conversation_of, customer_number, customer_writes
from threadline.contracts.events.v1 import common_pb2
from threadline.contracts.session.v1 import session_pb2 as session_pb
from threadline.contracts.session.v1 import session_pb2_grpc as session_grpc
from threadline.testing import eventually


async def test_replies_quote_what_they_answer_and_the_customer_sees_the_quote(
    platform: Platform,
) -> None:
    wa_id = customer_number()
    asked = await customer_writes(platform, wa_id, "Do you have it in blue?")

    async def answered_and_sent() -> bool:  # the assistant's reply, named by WhatsApp
        found = await conversation_of(platform, wa_id)
        return len(found.messages) == 2 and bool(found.messages[1].wamid)

    await eventually(answered_and_sent, timeout=20)
    question, reply = (await conversation_of(platform, wa_id)).messages
    async with grpc.aio.insecure_channel(f"127.0.0.1:{platform.session_grpc_port}") as channel:
        commands = session_grpc.SessionCommandsStub(channel)
        await commands.SendMessage(
            session_pb.SendMessageRequest(
                conversation_id=question.conversation_id,
                idempotency_key="quote-question",
                content=common_pb2.MessageContent(type="text", text="Yes, in navy blue."),
                quoted_message_id=question.id,
            ),
            metadata=platform.auth,
        )
        await commands.SendMessage(
            session_pb.SendMessageRequest(
                conversation_id=question.conversation_id,
                idempotency_key="quote-reply",
                content=common_pb2.MessageContent(
                    type="document",
                    payload_json=json.dumps({"link": "https://example.com/price-list.pdf"}),
                ),
                quoted_message_id=reply.id,
            ),
            metadata=platform.auth,
        )

    await eventually(lambda: len(platform.sandbox.outbox.messages(to=wa_id)) == 3, timeout=20)
    received = platform.sandbox.outbox.messages(to=wa_id)
    assert [m.quoted_wamid for m in received] == ["", asked, reply.wamid]
    assert received[1].request["context"] == {"message_id": asked}

    async def all_shown() -> bool:
        return len((await conversation_of(platform, wa_id)).messages) == 4

    await eventually(all_shown, timeout=20)
    shown = (await conversation_of(platform, wa_id)).messages
    texts = [(m.type, m.content) for m in shown[2:]]
    assert texts == [("text", "Yes, in navy blue."), ("document", "price-list.pdf")]
    quotes = [json.loads(m.metadata_json).get("quoted_message_id") for m in shown]
    assert quotes == [None, None, question.id, reply.id]
