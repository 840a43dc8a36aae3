"""What happened to outbound messages: dispatch, status reports (late ones too), failures."""

from __future__ import annotations

from threadline.analytics.changes import Changes
from threadline.analytics.projectors.common import (
    EventProjector,
    as_dict,
    iso,
    message_id_of,
    moment,
    occurred_at,
    reported_pricing,
)
from threadline.contracts.events.v1.common_pb2 import Pricing
from threadline.contracts.events.v1.session_pb2 import SessionEvent


def outbound_message_dispatched(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_dispatched
    changes.patch_message(message_id_of(body.message_id), occurred_at(event), wamid=body.wamid)


def message_status_changed(event: SessionEvent, changes: Changes) -> None:
    body = event.message_status_changed
    at = occurred_at(event)
    message_id = message_id_of(body.message_id)
    metadata: dict[str, object] = {}
    if body.HasField("pricing") and reported_pricing(body.pricing):
        metadata["pricing"] = as_dict(body.pricing)
    if body.errors:
        metadata["errors"] = [as_dict(error) for error in body.errors]
    patch = changes.patch_message(message_id, at, status=body.status, metadata=metadata)
    patch.status_history.append(
        {"status": body.status, "at": iso(moment(body.reported_at, otherwise=at))}
    )
    if body.errors:
        patch.error_code, patch.error_title = body.errors[0].code, body.errors[0].title
    _priced(changes, event, message_id, body.pricing)


def late_status_recorded(event: SessionEvent, changes: Changes) -> None:
    """Kept in the history, marked late; the message's status does not move."""
    body = event.late_status_recorded
    at = occurred_at(event)
    message_id = message_id_of(body.message_id)
    patch = changes.message(message_id, at)
    patch.status_history.append(
        {"status": body.status, "at": iso(moment(body.reported_at, otherwise=at)), "late": True}
    )
    _priced(changes, event, message_id, body.pricing)


def outbound_message_failed(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_failed
    at = occurred_at(event)
    patch = changes.patch_message(
        message_id_of(body.message_id), at, status="failed", metadata={"error": as_dict(body.error)}
    )
    patch.status_history.append({"status": "failed", "at": iso(at)})
    patch.error_code, patch.error_title = body.error.code, body.error.title


def _priced(changes: Changes, event: SessionEvent, message_id: str, pricing: Pricing) -> None:
    """Keep the latest pricing reported; charge the message at its first billable report."""
    reported = reported_pricing(pricing)
    if reported is None:
        return
    at = occurred_at(event)
    changes.message(message_id, at).pricing = reported
    if pricing.billable:
        changes.charge(message_id, pricing.category)


PROJECTORS: dict[str, EventProjector] = {
    "outbound_message_dispatched": outbound_message_dispatched,
    "message_status_changed": message_status_changed,
    "late_status_recorded": late_status_recorded,
    "outbound_message_failed": outbound_message_failed,
}
