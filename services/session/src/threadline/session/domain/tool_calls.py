"""Calls of the business's HTTP tools by the assistant (issue 12 item 2): the AI responder
reports each call and its result (`ToolCalled`), and the conversation records it once by its
call id, whatever the conversation's status (the call was made), so an operator sees what the
assistant looked up and booked. The result is what the model read; no secret is in it."""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState

# A result longer than this is cut: the AI responder bounds what it reads (64 KiB), and every
# reader of the conversation's events gets a bounded event.
RESULT_LIMIT = 16_384  # characters
ARGUMENTS_LIMIT = 4_096


class ToolCalls(ConversationState):
    class ToolCallRecorded(Aggregate.Event):
        call_id: str  # <generation_id>:<the provider's call id>
        generation_id: str
        tool: str
        arguments_json: str
        status: str  # ok, http_error, timeout, invalid_arguments, connection_error, unavailable
        http_status: int
        result_json: str
        latency_ms: int
        mutating: bool
        replayed: bool  # a recorded result given again, not called again
        trace: str

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.tool_calls.append(self.call_id)

    def record_tool_call(
        self,
        *,
        call_id: str,
        generation_id: str,
        tool: str,
        arguments_json: str,
        status: str,
        http_status: int,
        result_json: str,
        latency_ms: int,
        mutating: bool,
        replayed: bool,
        trace: str = "",
    ) -> bool:
        """Record the call; False when this call id was recorded already."""
        if call_id in self.tool_calls:
            return False
        self.trigger_event(
            self.ToolCallRecorded,
            call_id=call_id,
            generation_id=generation_id,
            tool=tool,
            arguments_json=arguments_json[:ARGUMENTS_LIMIT],
            status=status,
            http_status=http_status,
            result_json=result_json[:RESULT_LIMIT],
            latency_ms=latency_ms,
            mutating=mutating,
            replayed=replayed,
            trace=trace,
        )
        return True
