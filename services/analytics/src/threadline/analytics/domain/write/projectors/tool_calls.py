"""The assistant's calls of the business's HTTP tools (issue 12 item 2): one `tool_calls` row per
call the session recorded on a conversation (`ToolCallRecorded`), with its arguments as JSON.

The session records a call once per call id; should the same id come again, the first row
stays. What the tool answered (`result_json`) is left in the event log: the read models say
what was called and how it went.
"""

from __future__ import annotations

from threadline.analytics.domain.write.changes import Changes, ProjectionError
from threadline.analytics.domain.write.projectors.common import (
    EventProjector,
    aggregate_uuid,
    occurred_at,
    parsed_metadata,
)
from threadline.analytics.domain.write.rows_and_patches import ToolCallRow
from threadline.contracts.events.v1.session_pb2 import SessionEvent

INT32_MAX = 2**31 - 1


def tool_call_recorded(event: SessionEvent, changes: Changes) -> None:
    body = event.tool_call_recorded
    if not body.call_id:
        raise ProjectionError("the tool call names no call_id")
    row = ToolCallRow(
        call_id=body.call_id,
        conversation_id=aggregate_uuid(event),
        position=event.position,
        generation_id=body.generation_id,
        tool=body.tool,
        # the canonical JSON the session stored; made storable as jsonb like metadata
        arguments=parsed_metadata(body.arguments_json),
        status=body.status,
        http_status=body.http_status,
        latency_ms=min(body.latency_ms, INT32_MAX),  # uint32 in the event, integer in SQL
        mutating=body.mutating,
        replayed=body.replayed,
        called_at=occurred_at(event),
    )
    changes.record_tool_call(row)


PROJECTORS: dict[str, EventProjector] = {"tool_call_recorded": tool_call_recorded}
