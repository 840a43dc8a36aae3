"""`threadline.analytics.v1.ConversationQueries` over gRPC: requests in, views out.

`RULES` bound the request fields of both analytics services (checked by the server kit before
a method runs). Another tenant's conversation or customer is NOT_FOUND, like one that does not
exist (`read.queries`).
"""

from __future__ import annotations

from typing import Any

import grpc

from threadline.analytics.adapters.inbound.grpc.proto_mapping import (
    attachment_pb,
    conversation_filter,
    conversation_pb,
    message_pb,
    session_status_pb,
    tool_call_pb,
)
from threadline.analytics.application.read.queries import ConversationQueries
from threadline.analytics.domain.read.criteria import (
    CustomerRef,
    MessageWindow,
    Paging,
    media_type_of,
    parse_id,
)
from threadline.analytics.domain.read.errors import (
    InvalidQuery,
    UnknownAttachment,
    UnknownConversation,
    UnknownCustomer,
)
from threadline.contracts.analytics.v1 import analytics_pb2 as pb
from threadline.contracts.analytics.v1 import analytics_pb2_grpc
from threadline.servicekit.auth import current_principal
from threadline.servicekit.grpc_kit import Registration
from threadline.servicekit.validation import RequestRules, Rule, field_rules

Context = grpc.aio.ServicerContext[Any, Any]

ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    UnknownConversation: grpc.StatusCode.NOT_FOUND,
    UnknownAttachment: grpc.StatusCode.NOT_FOUND,
    UnknownCustomer: grpc.StatusCode.NOT_FOUND,
    InvalidQuery: grpc.StatusCode.INVALID_ARGUMENT,
}


ID = Rule(64)  # a conversation or contact id (a UUID), a business number
WORD = Rule(32)  # a status, a channel
_FILTER = {
    "lead_id": ID,
    "status": WORD,
    "channel": WORD,
    "business_number": ID,
    "customer_phone": ID,
    "assistant": Rule(128),
}
RULES: RequestRules = (
    field_rules(pb.ListConversationsRequest, **_FILTER)
    | field_rules(pb.ConversationFilter, **_FILTER)
    | field_rules(pb.GetConversationRequest, conversation_id=ID)
    | field_rules(pb.ListMessagesRequest, conversation_id=ID)
    | field_rules(pb.ListAttachmentsRequest, conversation_id=ID, media_type=WORD)
    | field_rules(pb.GetAttachmentRequest, conversation_id=ID, message_id=Rule(128))
    | field_rules(pb.ListToolCallsRequest, conversation_id=ID)
    | field_rules(pb.GetSessionStatusRequest, business_number=ID, customer=Rule(128))
    | field_rules(pb.ExportConversationsRequest, format=Rule(16))
)


class ConversationQueriesApi(analytics_pb2_grpc.ConversationQueriesServicer):
    def __init__(self, queries: ConversationQueries) -> None:
        self._queries = queries

    async def ListConversations(  # noqa: N802 (named by the proto)
        self, request: pb.ListConversationsRequest, context: Context
    ) -> pb.ListConversationsResponse:
        criteria = conversation_filter(request)
        paging = Paging.of(request.page, request.size)
        found = await self._queries.list_conversations(current_principal(), criteria, paging)
        return pb.ListConversationsResponse(
            conversations=[conversation_pb(c) for c in found.conversations],
            total=found.total,
            page=found.page,
            size=found.size,
            total_estimated=found.total_estimated,
        )

    async def GetConversation(  # noqa: N802 (named by the proto)
        self, request: pb.GetConversationRequest, context: Context
    ) -> pb.GetConversationResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        found = await self._queries.get_conversation(current_principal(), conversation_id)
        return pb.GetConversationResponse(
            conversation=conversation_pb(found.conversation),
            messages=[message_pb(m) for m in found.messages],
        )

    async def ListMessages(  # noqa: N802 (named by the proto)
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        window = MessageWindow.of(request.limit, request.offset)
        found = await self._queries.list_messages(current_principal(), conversation_id, window)
        return pb.ListMessagesResponse(
            messages=[message_pb(m) for m in found.messages], total=found.total
        )

    async def ListAttachments(  # noqa: N802 (named by the proto)
        self, request: pb.ListAttachmentsRequest, context: Context
    ) -> pb.ListAttachmentsResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        media_type = media_type_of(request.media_type)
        paging = Paging.of(request.page, request.size)
        found = await self._queries.list_attachments(
            current_principal(), conversation_id, media_type, paging
        )
        return pb.ListAttachmentsResponse(
            attachments=[attachment_pb(a) for a in found.attachments],
            total=found.total,
            page=found.page,
            size=found.size,
        )

    async def GetAttachment(  # noqa: N802 (named by the proto)
        self, request: pb.GetAttachmentRequest, context: Context
    ) -> pb.GetAttachmentResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        message_id = request.message_id.strip()
        if not message_id:
            raise InvalidQuery("message_id is required")
        found, location = await self._queries.stored_attachment(
            current_principal(), conversation_id, message_id
        )
        return pb.GetAttachmentResponse(attachment=attachment_pb(found), location=location)

    async def ListToolCalls(  # noqa: N802 (named by the proto)
        self, request: pb.ListToolCallsRequest, context: Context
    ) -> pb.ListToolCallsResponse:
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        paging = Paging.of(request.page, request.size)
        found = await self._queries.list_tool_calls(current_principal(), conversation_id, paging)
        return pb.ListToolCallsResponse(
            tool_calls=[tool_call_pb(t) for t in found.tool_calls],
            total=found.total,
            page=found.page,
            size=found.size,
        )

    async def GetSessionStatus(  # noqa: N802 (named by the proto)
        self, request: pb.GetSessionStatusRequest, context: Context
    ) -> pb.GetSessionStatusResponse:
        customer = CustomerRef.of(request.business_number, request.customer)
        status = await self._queries.session_status(current_principal(), customer)
        return session_status_pb(status)


def registration(queries: ConversationQueries) -> Registration:
    return Registration(
        add_to_server=analytics_pb2_grpc.add_ConversationQueriesServicer_to_server,
        servicer=ConversationQueriesApi(queries),
        service_name=pb.DESCRIPTOR.services_by_name["ConversationQueries"].full_name,
    )
