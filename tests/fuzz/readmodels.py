"""What analytics' read models show of one customer: their conversations and the wamids of
their messages, asked through `ConversationQueries` with the token for every number."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import grpc

from tests.fuzz.platform import Target
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc


@dataclass
class CustomerView:
    conversations: list[str] = field(default_factory=list)
    wamids: set[str] = field(default_factory=set)


async def customer_view(target: Target, wa_id: str, business_number: str = "") -> CustomerView:
    auth = (("authorization", f"Bearer {target.tokens.admin}"),)
    view = CustomerView()
    async with grpc.aio.insecure_channel(target.analytics_address) as channel:
        queries = analytics_pb2_grpc.ConversationQueriesStub(channel)
        listed = await queries.ListConversations(
            pb.ListConversationsRequest(
                customer_phone=wa_id, business_number=business_number, size=100
            ),
            metadata=auth,
            timeout=10,
        )
        for conversation in listed.conversations:
            view.conversations.append(conversation.id)
            found = await queries.GetConversation(
                pb.GetConversationRequest(conversation_id=conversation.id),
                metadata=auth,
                timeout=10,
            )
            view.wamids.update(m.wamid for m in found.messages if m.wamid)
    return view


async def wait_for_wamids(
    target: Target, wa_id: str, wamids: set[str], *, business_number: str = "", seconds: float
) -> CustomerView:
    """The customer's view once it holds every one of `wamids`, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            view = await customer_view(target, wa_id, business_number)
        except grpc.aio.AioRpcError:
            view = CustomerView()
        if wamids <= view.wamids or time.monotonic() > deadline:
            return view
        await asyncio.sleep(0.2)
