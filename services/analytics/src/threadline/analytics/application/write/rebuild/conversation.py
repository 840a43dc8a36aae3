"""Rebuilding one conversation's rows in place, from its stream in the event log.

Its conversation row, messages and response facts, and its contact's row, are deleted and
projected again from the conversation's and the contact's streams (`ReadStream`, with their
positions in the log), in one transaction holding the projections lock, so no live batch
interleaves. Only events the live projection has already reached are replayed; it applies the
later ones itself. The projection's position does not move.

A reaction or edit the customer sent from a later conversation to a message of this one is
an event of that later conversation: a full replay restores it, this one does not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from threadline.analytics.application.write.rebuild.batches import Skipped, project_into
from threadline.analytics.application.write.rebuild.ports import (
    ConversationRows,
    EventStreams,
    StreamNotFound,
)
from threadline.analytics.domain.write.projection import PROJECTION
from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates

CONVERSATION = "Conversation"


@dataclass(slots=True)
class ConversationRebuilt:
    conversation_id: UUID
    contact_id: UUID | None
    events: int = 0
    messages: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def rebuild_conversation(
    rows: ConversationRows,
    event_log: EventStreams,
    conversation_id: UUID,
    *,
    rates: Rates = EXAMPLE_RATES,
) -> ConversationRebuilt:
    stream = event_log.read_stream(str(conversation_id))
    if not stream or stream[0].aggregate_type != CONVERSATION:
        raise StreamNotFound(f"{conversation_id} is not a conversation in the event log")
    contact = stream[0].conversation_started.contact_id
    contact_id = UUID(contact) if contact else None
    events = list(stream)
    if contact_id is not None:
        events += event_log.read_stream(contact)
    store = rows.store
    rebuilt = ConversationRebuilt(conversation_id, contact_id)
    with rows.transaction():
        rows.hold_projections_lock()
        reached = store.positions(PROJECTION)
        replayed = sorted((e for e in events if reached.seen(e)), key=lambda e: e.position)
        rows.delete(conversation_id, contact_id)
        rebuilt.skipped = project_into(store, replayed, rates=rates)
        rebuilt.events = len(replayed)
        rebuilt.messages = rows.message_count(conversation_id)
    return rebuilt
