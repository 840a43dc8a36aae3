"""Conversations: who opened them and why, their status, hand-offs and flow progress."""

from __future__ import annotations

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    occurred_at,
    parsed_metadata,
    utc,
    uuid_of,
)
from threadline.analytics.domain.write.rows_and_patches import ConversationRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent
from threadline.rules.lifecycle import ACTIVE, CLOSED, ESCALATED

# A flow's status when its step names none (session.proto: "" = running).
RUNNING, COMPLETED = "running", "completed"


def conversation_started(event: SessionEvent, changes: Changes) -> None:
    body = event.conversation_started
    changes.start_conversation(
        ConversationRow(
            id=aggregate_uuid(event),
            lead_id=uuid_of(body.contact_id, "contact_id"),
            business_number=body.phone_number_id,
            session_key=body.session_key,
            channel=body.channel or "whatsapp",
            status=ACTIVE,
            customer_wa_id=body.customer.wa_id,
            customer_user_id=body.customer.user_id,
            customer_name=body.customer.profile_name,
            created_at=occurred_at(event),
            # The session's own defaults, for events stored before it recorded these.
            opened_by=body.opened_by or "customer",
            category=body.category or "SERVICE",
        )
    )


def conversation_status_changed(event: SessionEvent, changes: Changes) -> None:
    """StatusChanged, HandedOff, AutopilotResumed and AutoResolved all carry this body.

    The body cannot tell an operator's escalation from a hand-off, nor can a replay from the
    event log (which carries no subject): every move into `escalated` counts as a hand-off,
    which is what both mean (a human answers). The session emits it only on a real change.
    """
    body = event.conversation_status_changed
    at = occurred_at(event)
    patch = changes.conversation(aggregate_uuid(event), at)
    if body.status:
        patch.status = body.status
        patch.closed_at = at if body.status in CLOSED else patch.closed_at
        patch.hand_offs += body.status == ESCALATED
    patch.ai_paused = body.ai_paused
    patch.status_reason = body.reason
    patch.status_changed_by = body.changed_by
    patch.status_changed_at = at


def flow_step_reached(event: SessionEvent, changes: Changes) -> None:
    """The latest step wins whole: its expiry and status; its data (all the flow collected so
    far) is merged into the conversation's session_data, which also holds what the assistant's
    collect tool saved (the latest value of each key wins). A step recorded before flows had a
    status (issue 12) is `completed` or `running` by its flag."""
    body = event.flow_step_reached
    patch = changes.conversation(aggregate_uuid(event), occurred_at(event))
    patch.flow_id = body.flow_id
    patch.flow_step = body.step_id
    patch.flow_completed = body.completed
    patch.session_data = {
        **(patch.session_data or {}),
        **parsed_metadata(body.session_data_json),
    }
    patch.flow_expires_at = utc(body.expires_at) if body.HasField("expires_at") else None
    patch.flow_status = body.status or (COMPLETED if body.completed else RUNNING)


def conversation_data_collected(event: SessionEvent, changes: Changes) -> None:
    """What the assistant's collect tool saved (issue 12 item 2), merged into the
    conversation's session_data with the flow's data (the latest value of each key wins)."""
    fields = parsed_metadata(event.conversation_data_collected.fields_json)
    if not fields:
        return
    patch = changes.conversation(aggregate_uuid(event), occurred_at(event))
    patch.session_data = {**(patch.session_data or {}), **fields}


PROJECTORS: dict[str, EventProjector] = {
    "conversation_started": conversation_started,
    "conversation_status_changed": conversation_status_changed,
    "flow_step_reached": flow_step_reached,
    "conversation_data_collected": conversation_data_collected,
}
