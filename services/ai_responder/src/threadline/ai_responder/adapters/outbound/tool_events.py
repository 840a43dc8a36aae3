"""Each call of a business's HTTP tool on AI_EVENTS as `ToolCalled` (Nats-Msg-Id
`tool:<call_id>`), which the session records on the conversation (`ToolCallRecorded`)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from threadline.ai_responder.domain.tool_calls import ToolCalled
from threadline.contracts.events.v1 import ai_pb2
from threadline.messaging.bus import EventBus
from threadline.messaging.topology import TOOL_CALLED, Topology


class JetStreamToolCalls:
    """`ToolCallEvents` over an `EventBus`."""

    def __init__(self, bus: EventBus, topology: Topology) -> None:
        self._bus = bus
        self._topology = topology

    async def tool_called(self, called: ToolCalled) -> None:
        subject = self._topology.conversation_subject(TOOL_CALLED, called.conversation_id)
        await self._bus.publish(subject, tool_called(called), msg_id=f"tool:{called.call_id}")


def tool_called(called: ToolCalled) -> ai_pb2.ToolCalled:
    at = Timestamp()
    at.FromDatetime(called.at)
    return ai_pb2.ToolCalled(
        call_id=called.call_id,
        conversation_id=called.conversation_id,
        generation_id=called.generation_id,
        tool=called.tool,
        arguments_json=called.arguments_json,
        status=called.result.status,
        http_status=called.result.http_status,
        result_json=called.result.for_model(),
        latency_seconds=called.latency_seconds,
        mutating=called.mutating,
        replayed=called.replayed,
        called_at=at,
    )
