"""The console's test chat (issue 13 item 4): an operator writes to a business number's assistant
as a customer would, under a tester's name, and reads the conversation back.

`POST /api/v1/test-chat/{phone_number_id}/messages` with `{"tester", "text"}` or `{"tester",
"reply": {"id", "title"}}` (a tap on an option the assistant offered) is the session's
`SendTestMessage` (202: the assistant's answer follows, as a customer's would); `GET` the same
path with `?tester=` is the tester's latest conversation on that number, channel `test`, with its
messages (analytics), or 404 before the tester wrote. Nothing of it reaches WhatsApp
(`threadline.rules.testchat`).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import Field

from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.session.v1 import session_pb2
from threadline.gateway.adapters.inbound.http import schemas
from threadline.gateway.adapters.inbound.http.errors import BadRequest, NotFound
from threadline.gateway.adapters.inbound.http.openapi import Answer, Operation, Parameter, described
from threadline.gateway.adapters.inbound.http.params import (
    Query,
    credentials,
    json_object,
    optional_text,
    path_text,
)
from threadline.gateway.adapters.inbound.http.routes import DEADLINE_SECONDS, UPSTREAMS
from threadline.gateway.adapters.inbound.http.shapes import conversation_json, message_json
from threadline.rules.testchat import TEST_CHANNEL, tester_user_id

PAGE_SIZE = 100  # conversations per page, looking for the tester's
MESSAGES = 500  # the latest messages of the conversation shown
test_chat_routes = web.RouteTableDef()


class TestReplyTap(schemas.Shape):
    id: str = Field(description="the option's id, as the assistant offered it")
    title: str


class TestMessageSend(schemas.Shape):
    tester: str = Field(description="the name the test chat is held under")
    text: str = Field(default="", description="what the tester writes (or reply)")
    reply: TestReplyTap | None = Field(default=None, description="a tap on an offered option")


class TestMessageSent(schemas.Shape):
    conversation_id: str
    message_id: str


def test_message_request(
    phone_number_id: str, body: dict[str, Any], key: str
) -> session_pb2.SendTestMessageRequest:
    """The session's request for a body `{"tester", "text"}` or `{"tester", "reply": {"id",
    "title"}}` (the session checks the rest: one of the two, their lengths)."""
    reply = body.get("reply", {})
    if not isinstance(reply, dict):
        raise BadRequest("reply must be an object with the option's id and title")
    return session_pb2.SendTestMessageRequest(
        phone_number_id=phone_number_id,
        tester=optional_text(body, "tester"),
        text=optional_text(body, "text"),
        reply_id=optional_text(reply, "id"),
        reply_title=optional_text(reply, "title"),
        idempotency_key=key,
    )


@test_chat_routes.post("/api/v1/test-chat/{phone_number_id}/messages")
@described(
    Operation(
        "Write to the number's assistant as a tester (the test chat)",
        "test-chat",
        body=TestMessageSend,
        answers={202: Answer("Recorded; the assistant's answer follows", TestMessageSent)},
        idempotent_post=True,
    )
)
async def send_test_message(request: web.Request) -> web.Response:
    """A tester's message, recorded as a customer's on channel `test` (202: the answer follows)."""
    metadata = credentials(request)
    Query.of(request)
    phone_number_id = path_text(request, "phone_number_id", "phone_number_id")
    key = request.headers.get("Idempotency-Key", "").strip() or f"test-chat-{uuid.uuid4()}"
    body = await json_object(request)
    reply = await request.app[UPSTREAMS].commands.SendTestMessage(
        test_message_request(phone_number_id, body, key),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    return web.json_response(
        {"conversation_id": reply.conversation_id, "message_id": reply.message_id}, status=202
    )


@test_chat_routes.get("/api/v1/test-chat/{phone_number_id}/messages")
@described(
    Operation(
        "The tester's latest test chat on the number, with its messages",
        "test-chat",
        query=(Parameter("tester", "the name the test chat is held under", required=True),),
        answers={
            200: Answer("The conversation, messages oldest first", schemas.ConversationWithMessages)
        },
    )
)
async def test_chat_conversation(request: web.Request) -> web.Response:
    """The tester's latest test conversation on the number, with its messages, oldest first."""
    metadata = credentials(request)
    phone_number_id = path_text(request, "phone_number_id", "phone_number_id")
    tester = Query.of(request).text("tester").strip()
    if not tester:
        raise BadRequest("tester is required: the name the test chat is held under")
    queries = request.app[UPSTREAMS].queries
    user_id, found, page, seen = tester_user_id(tester), None, 1, 0
    while found is None:
        listed = await queries.ListConversations(
            pb.ListConversationsRequest(
                page=page, size=PAGE_SIZE, channel=TEST_CHANNEL, business_number=phone_number_id
            ),
            metadata=metadata,
            timeout=DEADLINE_SECONDS,
        )
        mine = [c for c in listed.conversations if c.lead.user_id == user_id]
        found = max(mine, key=lambda c: c.created_at.ToDatetime(), default=None)
        seen += len(listed.conversations)
        if not listed.conversations or seen >= listed.total:
            break
        page += 1
    if found is None:
        raise NotFound(f"{tester!r} has no test chat on {phone_number_id}")
    messages = await queries.ListMessages(
        pb.ListMessagesRequest(conversation_id=found.id, limit=MESSAGES),
        metadata=metadata,
        timeout=DEADLINE_SECONDS,
    )
    conversation = conversation_json(found)
    conversation["messages"] = [message_json(m) for m in messages.messages]
    return web.json_response(conversation)
