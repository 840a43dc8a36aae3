"""gRPC adapters: `SessionCommands` and `EventLog`. Each method only translates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import grpc

from threadline.contracts.events.v1 import session_pb2 as events_pb
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.auth import PermissionDenied, current_principal
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import OutboundRequest
from threadline.session.domain.errors import (
    ConversationNotFound,
    DomainError,
    InvalidMessage,
    WindowClosed,
)
from threadline.session.incoming_facts import content
from threadline.session.integration_events import to_session_event
from threadline.session.writer import EventStoreWriter

ERRORS: dict[type[BaseException], grpc.StatusCode] = {
    ConversationNotFound: grpc.StatusCode.NOT_FOUND,
    WindowClosed: grpc.StatusCode.FAILED_PRECONDITION,
    InvalidMessage: grpc.StatusCode.INVALID_ARGUMENT,
    DomainError: grpc.StatusCode.FAILED_PRECONDITION,
}
PAGE = 1000


def parse_id(raw: str, what: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidMessage(f"{what} must be a UUID, got {raw!r}") from None


class SessionCommandsServicer(pb_grpc.SessionCommandsServicer):
    def __init__(self, app: Conversations, writer: EventStoreWriter) -> None:
        self._app, self._writer = app, writer

    async def SendMessage(
        self, request: pb.SendMessageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SendMessageResponse:
        current_principal().require_role("write")
        conversation_id = parse_id(request.conversation_id, "conversation_id")
        conversation = await asyncio.to_thread(self._app.find_conversation, conversation_id)
        if not current_principal().can_see(conversation.phone_number_id):
            raise ConversationNotFound(conversation_id)
        if not request.idempotency_key:
            raise InvalidMessage("idempotency_key is required, so a retried call is a no-op")
        message_id = await self._writer.send(
            OutboundRequest(
                conversation_id=conversation_id,
                content=content(request.content),
                idempotency_key=request.idempotency_key,
                author=request.author or "agent",
            )
        )
        return pb.SendMessageResponse(
            message_id=str(message_id), conversation_id=str(conversation_id)
        )


class EventLogServicer(pb_grpc.EventLogServicer):
    def __init__(self, app: Conversations) -> None:
        self._app = app

    async def ReadAll(
        self, request: pb.ReadAllRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[events_pb.SessionEvent]:
        principal = current_principal()
        principal.require_role("read")
        if principal.numbers is not None:
            raise PermissionDenied("reading the whole log needs a token for every number")
        after, left = max(request.from_position, 1) - 1, request.limit or None
        while left is None or left > 0:
            size = PAGE if left is None else min(PAGE, left)
            page = await asyncio.to_thread(
                self._app.recorder.select_notifications, after, size, inclusive_of_start=False
            )
            for notification in page:
                event = self._app.mapper.to_domain_event(notification)
                yield to_session_event(event, notification.id)[2]
            if len(page) < size:
                return
            after = page[-1].id
            left = None if left is None else left - len(page)

    async def ReadStream(
        self, request: pb.ReadStreamRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[events_pb.SessionEvent]:
        current_principal().require_role("read")
        stream_id = parse_id(request.stream_id, "stream_id")
        events = await asyncio.to_thread(lambda: list(self._app.events.get(stream_id)))
        if not events:
            raise ConversationNotFound(stream_id)
        first = to_session_event(events[0], 0)[2]
        number = (
            first.conversation_started.phone_number_id or first.contact_registered.phone_number_id
        )
        if not current_principal().can_see(number):
            raise ConversationNotFound(stream_id)
        for event in events:
            # Positions belong to the whole log; a single stream is read by version.
            yield to_session_event(event, 0)[2]
