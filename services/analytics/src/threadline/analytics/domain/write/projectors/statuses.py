"""What happened to outbound messages: dispatch, status reports (late ones too), failures."""

from __future__ import annotations

from typing import Any

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    as_dict,
    iso,
    message_id_of,
    moment_iso,
    occurred_at,
    reported_pricing,
)
from threadline.analytics.domain.write.rows_and_patches import MessagePatch
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
    pricing = reported_pricing(body.pricing)
    if pricing is not None:
        metadata["pricing"] = {name: value for name, value in pricing.items() if value}
    errors = body.errors
    if errors:
        metadata["errors"] = [as_dict(error) for error in errors]
    patch = changes.patch_message(message_id, at, status=body.status, metadata=metadata)
    patch.status_history.append(
        {"status": body.status, "at": moment_iso(body.reported_at, otherwise=at)}
    )
    if errors:
        patch.error_code, patch.error_title = errors[0].code, errors[0].title
    if pricing is not None:
        _charge(changes, patch, message_id, pricing)


def late_status_recorded(event: SessionEvent, changes: Changes) -> None:
    """Kept in the history, marked late; the message's status does not move."""
    body = event.late_status_recorded
    at = occurred_at(event)
    message_id = message_id_of(body.message_id)
    patch = changes.message(message_id, at)
    patch.status_history.append(
        {"status": body.status, "at": moment_iso(body.reported_at, otherwise=at), "late": True}
    )
    _priced(changes, event, message_id, body.pricing)


def outbound_message_dispatch_failed(event: SessionEvent, changes: Changes) -> None:
    body = event.outbound_message_dispatch_failed
    at = occurred_at(event)
    patch = changes.patch_message(
        message_id_of(body.message_id), at, status="failed", metadata={"error": as_dict(body.error)}
    )
    patch.status_history.append({"status": "failed", "at": iso(at)})
    patch.error_code, patch.error_title = body.error.code, body.error.title


def _priced(changes: Changes, event: SessionEvent, message_id: str, pricing: Pricing) -> None:
    reported = reported_pricing(pricing)
    if reported is not None:
        _charge(changes, changes.message(message_id, occurred_at(event)), message_id, reported)


def _charge(
    changes: Changes, patch: MessagePatch, message_id: str, reported: dict[str, Any]
) -> None:
    """Keep the latest pricing reported; charge the message at its first billable report."""
    patch.pricing = reported
    if reported["billable"]:
        changes.charge(message_id, reported["category"])


PROJECTORS: dict[str, EventProjector] = {
    "outbound_message_dispatched": outbound_message_dispatched,
    "message_status_changed": message_status_changed,
    "late_status_recorded": late_status_recorded,
    "outbound_message_dispatch_failed": outbound_message_dispatch_failed,
}
