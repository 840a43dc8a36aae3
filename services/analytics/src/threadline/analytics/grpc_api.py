"""`threadline.analytics.v1.ConversationQueries` over gRPC: requests in, views out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.analytics.criteria import ConversationFilter, MessageWindow, Paging, parse_id
from threadline.analytics.errors import ConversationNotFound, InvalidQuery
from threadline.analytics.queries import ConversationQueries
from threadline.analytics.views import ConversationView, MessageView
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.servicekit.auth import current_principal
from threadline.servicekit.grpc_kit import Registration

Context = grpc.aio.ServicerContext[Any, Any]

ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    ConversationNotFound: grpc.StatusCode.NOT_FOUND,
    InvalidQuery: grpc.StatusCode.INVALID_ARGUMENT,
}


class ConversationQueriesApi(analytics_pb2_grpc.ConversationQueriesServicer):
    def __init__(self, queries: ConversationQueries) -> None:
        self._queries = queries

    async def ListConversations(
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        criteria = ConversationFilter.of(
            lead_id=request.lead_id,
            status=request.status,
            channel=request.channel,
            business_number=request.business_number,
            customer_phone=request.customer_phone,
        )
        paging = Paging.of(request.page, request.size)
        found = await self._queries.list_conversations(current_principal(), criteria, paging)
        return pb.ListConversationsResponse(
            conversations=[conversation_pb(c) for c in found.conversations],
            total=found.total,
            page=found.page,
            size=found.size,
        )

    async def GetConversation(
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.GetConversationResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        found = await self._queries.get_conversation(current_principal(), conversation_id)
        return pb.GetConversationResponse(
            conversation=conversation_pb(found.conversation),
            messages=[message_pb(m) for m in found.messages],
        )

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        window = MessageWindow.of(request.limit, request.offset)
        found = await self._queries.list_messages(current_principal(), conversation_id, window)
        return pb.ListMessagesResponse(
            messages=[message_pb(m) for m in found.messages], total=found.total
        )


def registration(queries: ConversationQueries) -> Registration:
    return Registration(
        add_to_server=analytics_pb2_grpc.add_ConversationQueriesServicer_to_server,
        servicer=ConversationQueriesApi(queries),
        service_name=pb.DESCRIPTOR.services_by_name["ConversationQueries"].full_name,
    )


def conversation_pb(view: ConversationView) -> pb.Conversation:
    return pb.Conversation(
        id=str(view.id),
        lead_id=str(view.lead_id),
        session_key=view.session_key,
        channel=view.channel,
        status=view.status,
        message_count=view.message_count,
        created_at=_timestamp(view.created_at),
        updated_at=_timestamp(view.updated_at),
        lead=pb.Lead(
            id=str(view.lead.id),
            wa_id=view.lead.wa_id,
            user_id=view.lead.user_id,
            name=view.lead.name,
        ),
        last_message_at=_timestamp(view.last_message_at),
        last_message_preview=view.last_message_preview,
        business_number=view.business_number,
    )


def message_pb(view: MessageView) -> pb.Message:
    return pb.Message(
        id=view.id,
        conversation_id=str(view.conversation_id),
        role=view.role,
        author=view.author,
        type=view.type,
        content=view.content,
        status=view.status,
        metadata_json=json.dumps(view.metadata, separators=(",", ":")),
        created_at=_timestamp(view.created_at),
        wamid=view.wamid,
        updated_at=_timestamp(view.updated_at),
    )


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
