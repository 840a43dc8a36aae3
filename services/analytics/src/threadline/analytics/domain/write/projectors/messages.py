"""Messages in and out: the customer's messages and changes to them, the replies, and the
replies the assistant generated and discarded unsent."""

from __future__ import annotations

import json
import math
from typing import Any

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    message_id_of,
    moment,
    moment_iso,
    occurred_at,
    parsed_metadata,
    preview,
)
from threadline.analytics.domain.write.rows_and_patches import MessageRow, Reply, ResponseFact
from threadline.contracts.events.v1.ai_pb2 import Citation
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.rules.window import CustomerServiceWindow

# WhatsApp's own notices (e.g. "the customer changed number") wait for no answer.
NOT_AWAITING_ANSWER = frozenset({"system"})


def customer_message_received(event: SessionEvent, changes: Changes) -> None:
    body = event.customer_message_received
    conversation_id = aggregate_uuid(event)
    received = occurred_at(event)
    sent = moment(body.sent_at, otherwise=received)
    metadata = parsed_metadata(body.metadata_json)
    if body.context_wamid:
        metadata.setdefault("context_wamid", body.context_wamid)
    row = MessageRow(
        id=message_id_of(body.message_id),
        conversation_id=conversation_id,
        position=event.position,
        role="user",
        author="customer",
        type=body.content.type,
        content=body.content.text,
        status="received",
        wamid=body.wamid,
        metadata=metadata,
        created_at=received,
        sent_at=sent,
        status_history=(
            {"status": "received", "at": moment_iso(event.occurred_at, otherwise=received)},
        ),
    )
    changes.add_message(row, preview=preview(body.content))
    patch = changes.conversation(conversation_id, received)
    patch.first_customer_message_at = patch.first_customer_message_at or received
    # The window, as the session keeps it: renewed by the latest message the customer sent,
    # or 72 hours from the latest free-entry (ad referral) message.
    patch.last_inbound_at = max(sent, patch.last_inbound_at or sent)
    if body.free_entry:
        patch.free_entry_until = CustomerServiceWindow.free_entry_closes_at(sent)
    if body.content.type not in NOT_AWAITING_ANSWER:
        fact = ResponseFact(row.id, conversation_id, event.position, received, sent_at=sent)
        changes.await_answer(fact)


def customer_message_changed(event: SessionEvent, changes: Changes) -> None:
    """An edit, a deletion or a reaction lands on the message it names; one naming a message
    the platform never saw is kept as a message of its own kind."""
    body = event.customer_message_changed
    at = occurred_at(event)
    when = moment_iso(body.sent_at, otherwise=at)
    if not body.target_message_id:
        _unmatched_change(event, changes)
        return
    target = changes.message(body.target_message_id, at)
    if body.kind == "edit":
        target.content = body.content.text
        target.edits.append({"text": body.content.text, "at": when, "message_id": body.message_id})
    elif body.kind == "revoke":
        target.status = "deleted"
        target.deleted_at = target.deleted_at or at
        target.status_history.append({"status": "deleted", "at": when})
    elif body.kind == "reaction":
        target.reaction = body.content.text
        target.reactions.append(
            {"emoji": body.content.text, "at": when, "message_id": body.message_id}
        )


def _unmatched_change(event: SessionEvent, changes: Changes) -> None:
    body = event.customer_message_changed
    at = occurred_at(event)
    metadata = parsed_metadata(body.metadata_json)
    metadata["target_wamid"] = body.target_wamid
    row = MessageRow(
        id=message_id_of(body.message_id),
        conversation_id=aggregate_uuid(event),
        position=event.position,
        role="user",
        author="customer",
        type=body.content.type or body.kind,
        content=body.content.text,
        status="received",
        wamid=body.wamid,
        metadata=metadata,
        created_at=at,
        sent_at=moment(body.sent_at, otherwise=at),
        status_history=({"status": "received", "at": moment_iso(event.occurred_at, otherwise=at)},),
    )
    changes.add_message(row, preview=preview(body.content))


def interactive(payload_json: str) -> dict[str, Any] | None:
    """An interactive message's Cloud API object (body, buttons or list rows), when its payload
    reads as one (the session checked it against WhatsApp's limits before queueing it)."""
    try:
        payload = json.loads(payload_json) if payload_json else None
    except ValueError:
        return None
    if isinstance(payload, dict) and isinstance(payload.get("interactive"), dict):
        payload = payload["interactive"]  # the whole message object, as an operator may send it
    return payload if isinstance(payload, dict) and "action" in payload else None


def outbound_message_queued(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_queued
    conversation_id = aggregate_uuid(event)
    at = occurred_at(event)
    metadata: dict[str, Any] = {}
    if body.in_reply_to_message_id:
        metadata["in_reply_to"] = body.in_reply_to_message_id
    if body.quoted_message_id:  # what the message quotes (issue 11 item 8)
        metadata["quoted_message_id"] = body.quoted_message_id
        metadata["quoted_wamid"] = body.quoted_wamid
    if body.content.type == "interactive" and (shown := interactive(body.content.payload_json)):
        metadata["interactive"] = shown  # its buttons or list, as the customer sees them
    llm_cost = changes.rates.language_model_cost(
        body.model, body.prompt_tokens, body.completion_tokens, reported=body.cost
    )
    row = MessageRow(
        id=message_id_of(body.message_id),
        conversation_id=conversation_id,
        position=event.position,
        role="assistant",
        author=body.author,
        type=body.content.type,
        content=body.content.text,
        status="queued",
        wamid="",
        metadata=metadata,
        created_at=at,
        in_reply_to=body.in_reply_to_message_id,
        model=body.model,
        prompt_tokens=body.prompt_tokens,
        completion_tokens=body.completion_tokens,
        llm_cost=llm_cost,
        status_history=({"status": "queued", "at": moment_iso(event.occurred_at, otherwise=at)},),
        cached_tokens=body.cached_tokens,
        latency_ms=body.latency_ms,
        assistant=body.assistant,
        assistant_version=body.assistant_version,
        interpretation=body.interpretation,
        citations=tuple(citation(c) for c in body.citations),
    )
    changes.add_message(row, preview=preview(body.content))
    patch = changes.conversation(conversation_id, at)
    if body.author == "ai" and body.assistant:
        patch.assistant, patch.assistant_version = body.assistant, body.assistant_version
        patch.assistant_named = True
    elif body.author == "ai" and body.model and patch.assistant is None:
        # Before issue 10 a reply named only its model (so does the keyword hand-off): it
        # stands in until a reply names its assistant.
        patch.assistant, patch.assistant_version = body.model, 0
    patch.prompt_tokens += body.prompt_tokens
    patch.completion_tokens += body.completion_tokens
    patch.cached_tokens += body.cached_tokens
    patch.llm_cost += llm_cost
    changes.answer(Reply(row.id, conversation_id, event.position, author=body.author, at=at))


def assistant_generation_discarded(event: SessionEvent, changes: Changes) -> None:
    """A reply the assistant generated and dropped unsent (the customer wrote again): no
    message, but its tokens and cost count toward the conversation's, which cost what was
    spent, sent or not."""
    body = event.assistant_generation_discarded
    llm_cost = changes.rates.language_model_cost(
        body.model, body.prompt_tokens, body.completion_tokens, reported=body.cost
    )
    patch = changes.conversation(aggregate_uuid(event), occurred_at(event))
    patch.prompt_tokens += body.prompt_tokens
    patch.completion_tokens += body.completion_tokens
    patch.cached_tokens += body.cached_tokens
    patch.llm_cost += llm_cost
    patch.discarded_generations += 1
    patch.discarded_llm_cost += llm_cost


def citation(cited: Citation) -> dict[str, Any]:
    """A passage a reply used, as its row keeps it (a score jsonb cannot hold is null)."""
    return {
        "passage_id": cited.passage_id,
        "document": cited.document,
        "knowledge_base": cited.knowledge_base,
        "score": cited.score if math.isfinite(cited.score) else None,
        "snippet": cited.snippet,
    }


PROJECTORS: dict[str, EventProjector] = {
    "customer_message_received": customer_message_received,
    "customer_message_changed": customer_message_changed,
    "outbound_message_queued": outbound_message_queued,
    "assistant_generation_discarded": assistant_generation_discarded,
}
