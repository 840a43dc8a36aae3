"""Use case: a customer message arrives → maybe a drafted reply."""

from __future__ import annotations

import json
from datetime import timedelta

from threadline.ai_responder.model import LanguageModel, Prompt
from threadline.ai_responder.policy import asks_for_a_person, is_stale
from threadline.contracts.events.v1 import ai_pb2, common_pb2
from threadline.contracts.events.v1 import session_pb2 as session_events
from threadline.servicekit.clock import Clock


class Responder:
    """Drafts a reply for each fresh customer message; the session decides whether to send it."""

    def __init__(self, model: LanguageModel, *, clock: Clock, stale_after: timedelta) -> None:
        self._model, self._clock, self._stale_after = model, clock, stale_after

    def draft(self, event: session_events.SessionEvent) -> ai_pb2.ReplyDrafted | None:
        message = event.customer_message_received
        now = self._clock()
        if is_stale(
            message.sent_at.ToDatetime(tzinfo=now.tzinfo), now, stale_after=self._stale_after
        ):
            return None
        completion = self._model.complete(
            Prompt(
                customer_name=_customer_name(message.metadata_json),
                message_type=message.content.type,
                text=message.content.text,
            )
        )
        draft = ai_pb2.ReplyDrafted(
            # Derived from the message answered, so a redelivery drafts the same reply id.
            draft_id=f"draft-{message.message_id}",
            conversation_id=event.aggregate_id,
            in_reply_to_message_id=message.message_id,
            content=common_pb2.MessageContent(type="text", text=completion.text),
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        draft.drafted_at.FromDatetime(now)
        return draft

    def hand_off(self, event: session_events.SessionEvent) -> ai_pb2.HandOffRequested | None:
        """A customer who asks for a person gets one: the session escalates the conversation."""
        message = event.customer_message_received
        if message.content.type != "text" or not asks_for_a_person(message.content.text):
            return None
        request = ai_pb2.HandOffRequested(
            request_id=f"hand-off-{message.message_id}",
            conversation_id=event.aggregate_id,
            reason="the customer asked for a person",
        )
        request.requested_at.FromDatetime(self._clock())
        return request


def _customer_name(metadata_json: str) -> str:
    try:
        raw = json.loads(metadata_json or "{}")
    except ValueError:
        return ""
    name = raw.get("profile_name", "") if isinstance(raw, dict) else ""
    return name if isinstance(name, str) else ""
