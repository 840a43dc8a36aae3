"""`threadline demo`: play a customer through the sandbox and print the conversation."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC

import aiohttp
import grpc

from threadline.cli.devstate import DevState
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc as pb_grpc

FINAL = {"delivered", "read"}


async def run_demo(text: str, *, timeout: float = 30.0) -> int:
    state = DevState.load()
    wa_id = f"1555{random.randrange(10**7):07d}"
    async with aiohttp.ClientSession() as http:
        url = f"{state.sandbox_url}/sandbox/customers/{wa_id}/messages"
        body = {"phone_number_id": state.phone_number_id, "text": text, "profile_name": "Ana"}
        async with http.post(url, json=body) as response:
            answer = await response.json()
            if response.status != 200 or answer.get("webhook_status") != 200:
                print(f"the sandbox could not deliver the message: {response.status} {answer}")
                return 1
    print(f"Customer +{wa_id} wrote {text!r} (wamid {answer['wamid']}); waiting for the reply…")
    metadata = (("authorization", f"Bearer {state.secrets.api_token}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{state.ports.analytics_grpc}") as channel:
        queries = pb_grpc.ConversationQueriesStub(channel)
        conversation = await _wait_for_reply(queries, wa_id, metadata, timeout)
    if conversation is None:
        print("no delivered reply within the time allowed; see the platform's logs")
        return 1
    print(render(conversation))
    return 0


async def _wait_for_reply(
    queries: pb_grpc.ConversationQueriesAsyncStub,
    wa_id: str,
    metadata: tuple[tuple[str, str], ...],
    timeout: float,
) -> pb.GetConversationResponse | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = await queries.ListConversations(
            pb.ListConversationsRequest(customer_phone=wa_id), metadata=metadata
        )
        if listed.conversations:
            found = await queries.GetConversation(
                pb.GetConversationRequest(conversation_id=listed.conversations[0].id),
                metadata=metadata,
            )
            replies = [m for m in found.messages if m.role == "assistant"]
            if replies and all(m.status in FINAL for m in found.messages if m.role == "assistant"):
                return found
        await asyncio.sleep(0.25)
    return None


def render(found: pb.GetConversationResponse) -> str:
    c = found.conversation
    lines = [
        f"Conversation {c.id}  {c.session_key}  status={c.status}  "
        f"messages={c.message_count}  lead={c.lead.name or c.lead_id}",
    ]
    for m in found.messages:
        at = m.created_at.ToDatetime(tzinfo=UTC).strftime("%H:%M:%S")
        who = m.author or m.role
        lines.append(f"  {at}  {who:<9} {m.type:<6} {m.status:<9} {m.content}")
    return "\n".join(lines)
