"""Business numbers: their autopilot switch, auto-resolution threshold and templates."""

from __future__ import annotations

from threadline.analytics.domain.write.changes import Changes
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    occurred_at,
)
from threadline.analytics.domain.write.rows_and_patches import BusinessNumberRow, TemplateRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent


def business_number_registered(event: SessionEvent, changes: Changes) -> None:
    changes.register_number(
        BusinessNumberRow(
            id=aggregate_uuid(event),
            phone_number_id=event.business_number_registered.phone_number_id,
            registered_at=occurred_at(event),
        )
    )


def autopilot_set(event: SessionEvent, changes: Changes) -> None:
    patch = changes.number(aggregate_uuid(event), occurred_at(event))
    patch.autopilot = event.autopilot_set.enabled


def auto_resolution_set(event: SessionEvent, changes: Changes) -> None:
    patch = changes.number(aggregate_uuid(event), occurred_at(event))
    patch.auto_resolve_hours = event.auto_resolution_set.hours


def template_registered(event: SessionEvent, changes: Changes) -> None:
    body = event.template_registered
    changes.register_template(
        TemplateRow(
            number_id=aggregate_uuid(event),
            name=body.name,
            language=body.language,
            category=body.category,
            body=body.body,
            parameter_count=body.parameter_count,
            registered_at=occurred_at(event),
        )
    )


PROJECTORS: dict[str, EventProjector] = {
    "business_number_registered": business_number_registered,
    "autopilot_set": autopilot_set,
    "auto_resolution_set": auto_resolution_set,
    "template_registered": template_registered,
}
