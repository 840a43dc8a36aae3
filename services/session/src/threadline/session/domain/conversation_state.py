"""What a conversation knows, read and changed by each of its parts.

`Conversation` (conversation.py) is built from parts, one per concern: its lifecycle
(conversation_lifecycle.py), the customer's messages (customer_messages.py), the business's
outbound messages (outbound_messages.py), their delivery (message_delivery.py), the
assistant's discarded generations (discarded_generations.py), the customer's attachments
(attachments.py), the transcripts of their voice notes (transcripts.py), the assistant's
calls of the business's HTTP tools (tool_calls.py) and the customer data it collected
(collected_data.py). Each part
declares its events (with the change each applies) and the commands that trigger them; all of
them share the state declared here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from threadline.rules.lifecycle import CLOSED
from threadline.rules.testchat import TEST_CHANNEL
from threadline.rules.window import CustomerServiceWindow
from threadline.session.domain.message_state import HeldStatus, MessageState

NEVER = datetime.max.replace(tzinfo=UTC)  # when the test chat's window closes


class ConversationState:
    """The state of one conversation (set by its `Started` event, changed by the others)."""

    contact_id: UUID
    phone_number_id: str
    customer_wa_id: str
    customer_user_id: str
    customer_name: str
    session_key: str
    channel: str
    opened_by: str
    category: str
    status: str
    ai_paused: bool
    last_inbound_at: datetime | None
    free_entry_until: datetime | None
    last_activity_at: datetime | None
    flow: dict[str, Any] | None
    messages: dict[str, MessageState]  # by message id (text)
    message_ids_by_wamid: dict[str, str]
    early_statuses: dict[str, list[HeldStatus]]  # by wamid, until its dispatch result
    discarded_generations: list[str]  # ids of the assistant's superseded generations
    attachments: dict[str, str]  # by customer message id (text): "stored" or "failed"
    transcripts: dict[str, str]  # by customer message id (text): "recorded" or "missing"
    tool_calls: list[str]  # ids of the recorded calls of the business's HTTP tools
    collected_data: dict[str, Any]  # what the assistant's collect tool recorded, by key
    data_collections: list[str]  # ids of the recorded CustomerDataCollected reports

    if TYPE_CHECKING:
        # Made by eventsourcing from `Conversation.__init__`.
        Started: ClassVar[type[Any]]

        # `Aggregate.trigger_event`, which every part uses.
        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED

    @property
    def window(self) -> CustomerServiceWindow:
        """The customer service window (`threadline.rules.window`): 24 hours after the
        customer's latest message, 72 after one from a free entry point; in the test chat
        (`threadline.rules.testchat`) open as long as the conversation is."""
        return CustomerServiceWindow.of(
            last_inbound_at=self.last_inbound_at,
            # The test chat's window never closes: nothing of it reaches WhatsApp.
            free_entry_until=NEVER if self.channel == TEST_CHANNEL else self.free_entry_until,
            conversation_status=self.status,
        )

    def knows(self, wamid: str) -> bool:
        return wamid in self.message_ids_by_wamid

    def touch(self, moment: datetime) -> None:
        """Something happened at `moment` (what auto-resolution measures idleness from)."""
        if self.last_activity_at is None or moment > self.last_activity_at:
            self.last_activity_at = moment
