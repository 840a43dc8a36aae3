"""The conversation's history, read from the session's event log (gRPC `EventLog.ReadStream`,
with a bearer token that has the `read` role on the business number).

The conversation's own stream gives its turns (`CustomerMessageReceived`: the customer's,
rendered as the model reads the current message; `OutboundMessageQueued`: the assistant's or an
operator's, the text or the interactive message's body and options) and, in its
`ConversationStarted`, the contact, the customer's name and the business number. The contact's
stream names the contact's conversations (`ContactConversationOpened`); the most recent earlier
ones with the same business number give their last turns. Every read is bounded: a few earlier
conversations, their last turns, a timeout per call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC
from typing import Final

import grpc

from threadline.ai_responder.adapters.integration_events import customer_message
from threadline.ai_responder.application.model_request import what_the_customer_said
from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    EarlierConversation,
    History,
    HistoryUnavailable,
    SaidTurn,
    Turn,
)
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc

TIMEOUT_SECONDS: Final = 2.0
EARLIER_CONVERSATIONS: Final = 3
EARLIER_TURNS: Final = 20
# A stream the session does not have (yet), or an id that is not one of its streams.
_NO_STREAM: Final = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)


class SessionConversationHistory:
    """`ConversationHistory` over the session's `EventLog` (the channel is the caller's)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str,
        *,
        timeout_seconds: float = TIMEOUT_SECONDS,
        earlier_conversations: int = EARLIER_CONVERSATIONS,
        earlier_turns: int = EARLIER_TURNS,
    ) -> None:
        self._stub = pb_grpc.EventLogStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_seconds
        self._earlier_conversations = earlier_conversations
        self._earlier_turns = earlier_turns

    async def read(self, conversation_id: str) -> History:
        events = await self._stream(conversation_id)
        started = next((e for e in events if e.HasField("conversation_started")), None)
        if started is None:
            return History(turns=said_turns(events))
        opened = started.conversation_started
        earlier = await self._earlier(opened.contact_id, conversation_id, opened.phone_number_id)
        return History(
            turns=said_turns(events),
            customer_name=opened.customer.profile_name,
            business_number=opened.phone_number_id,
            earlier=earlier,
        )

    async def _earlier(
        self, contact_id: str, conversation_id: str, business_number: str
    ) -> tuple[EarlierConversation, ...]:
        """The contact's most recent earlier conversations with `business_number`."""
        if not contact_id:
            return ()
        opened = [
            e.contact_conversation_opened.conversation_id
            for e in await self._stream(contact_id)
            if e.HasField("contact_conversation_opened")
        ]
        found: list[EarlierConversation] = []
        for earlier_id in reversed(opened):  # most recent first
            if len(found) == self._earlier_conversations:
                break
            if earlier_id == conversation_id:
                continue
            events = await self._stream(earlier_id)
            started = next((e for e in events if e.HasField("conversation_started")), None)
            if started is None or started.conversation_started.phone_number_id != business_number:
                continue
            turns = tuple(said.turn for said in said_turns(events)[-self._earlier_turns :])
            if turns:
                at = started.occurred_at.ToDatetime(tzinfo=UTC)
                found.append(EarlierConversation(earlier_id, at, turns))
        return tuple(found)

    async def _stream(self, stream_id: str) -> list[SessionEvent]:
        request = pb.ReadStreamRequest(stream_id=stream_id)
        try:
            call = self._stub.ReadStream(request, metadata=self._metadata, timeout=self._timeout)
            return [event async for event in call]
        except grpc.aio.AioRpcError as error:
            if error.code() in _NO_STREAM:
                return []
            raise HistoryUnavailable(
                f"the session's event log is unavailable: {error.code().name} {error.details()}"
            ) from error


def said_turns(events: Sequence[SessionEvent]) -> tuple[SaidTurn, ...]:
    """The turns a conversation's events record, in order."""
    turns: list[SaidTurn] = []
    for event in events:
        if event.HasField("customer_message_received"):
            message = customer_message(event)
            turns.append(
                SaidTurn(message.message_id, Turn(CUSTOMER, what_the_customer_said(message)))
            )
        elif event.HasField("outbound_message_queued"):
            queued = event.outbound_message_queued
            text = _outbound_text(
                queued.content.type, queued.content.text, queued.content.payload_json
            )
            turns.append(SaidTurn(queued.message_id, Turn(ASSISTANT, text)))
    return tuple(turns)


def _outbound_text(kind: str, text: str, payload_json: str) -> str:
    """An outbound message as the model reads it: the text; an interactive message's body and
    its options (`[options: "Title" (id), ...]`); a template's name."""
    payload = _json_object(payload_json)
    if kind == "interactive":
        body = payload.get("body")
        said = body.get("text", "") if isinstance(body, dict) else ""
        action = payload.get("action")
        if isinstance(action, dict) and action.get("name") == "cta_url":
            link = action.get("parameters")
            if isinstance(link, dict):
                return (
                    f'{said or text} [link "{link.get("display_text", "")}": {link.get("url", "")}]'
                )
        options = _options(action)
        listed = ", ".join(f'"{title}" ({key})' for key, title in options)
        return f"{said or text} [options: {listed}]" if listed else str(said or text)
    if kind == "template" and not text:
        return f"[template {payload.get('name', '')}]".replace(" ]", "]")
    return text or f"[{kind} message]"


def _options(action: object) -> list[tuple[str, str]]:
    """The (id, title) of an interactive message's buttons or list rows."""
    if not isinstance(action, dict):
        return []
    found: list[tuple[str, str]] = []
    for button in action.get("buttons", []) or []:
        reply = button.get("reply") if isinstance(button, dict) else None
        if isinstance(reply, dict):
            found.append((str(reply.get("id", "")), str(reply.get("title", ""))))
    for section in action.get("sections", []) or []:
        rows = section.get("rows", []) if isinstance(section, dict) else []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict):
                found.append((str(row.get("id", "")), str(row.get("title", ""))))
    return found


def _json_object(text: str) -> dict[str, object]:
    try:
        raw = json.loads(text or "{}")
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}
