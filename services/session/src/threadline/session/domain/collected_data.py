"""Customer data the assistant collected in a conversation with its `collect_customer_data`
tool (issue 12 item 2): the AI responder reports the values the field rules accepted
(`CustomerDataCollected`), and the conversation records the ones that change its data, once by
the report's event id, whatever the conversation's status (the customer gave them).

A conversation's session_data is the flow's data and the collected data together, the latest
value of each key winning (analytics merges both in the order they were recorded); the
conversation keeps the collected values so a report that changes nothing records nothing."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from threadline.session.domain.conversation_state import ConversationState

# Bounds on what one report brings (the AI responder sends a few short normalised values).
MAX_COLLECTED_FIELDS = 32
MAX_COLLECTED_VALUE = 1_000  # characters


class CollectedData(ConversationState):
    class DataCollected(Aggregate.Event):
        event_id: str  # the AI responder's CustomerDataCollected event id
        generation_id: str
        fields: dict[str, Any]  # only the keys whose value changed

        def apply(self, aggregate: ConversationState) -> None:
            aggregate.collected_data = {**aggregate.collected_data, **self.fields}
            aggregate.data_collections.append(self.event_id)

    def collect_data(
        self, *, event_id: str, generation_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Record the values that change the conversation's collected data; what was recorded
        ({} when the report was recorded before or changes nothing)."""
        if event_id in self.data_collections:
            return {}
        changed = {
            key: value[:MAX_COLLECTED_VALUE] if isinstance(value, str) else value
            for key, value in list(fields.items())[:MAX_COLLECTED_FIELDS]
            if self.collected_data.get(key) != value
        }
        if not changed:
            return {}
        self.trigger_event(
            self.DataCollected, event_id=event_id, generation_id=generation_id, fields=changed
        )
        return changed
