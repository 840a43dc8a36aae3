"""One session of messages between a customer and a business number.

The aggregate is put together from its parts, one per concern (see conversation_state.py);
this module names every event, so that each is `Conversation.<Event>`: its topic,
`threadline.session.domain.conversation:Conversation.<Event>`, is what every stored event of a
conversation carries, and must never change (history is never rewritten).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from threadline.rules.lifecycle import ACTIVE
from threadline.rules.partitions import conversation_id_in_slot, customer_slot
from threadline.session.domain.attachments import Attachments
from threadline.session.domain.collected_data import CollectedData
from threadline.session.domain.conversation_lifecycle import ConversationLifecycle
from threadline.session.domain.customer_messages import CustomerMessages
from threadline.session.domain.discarded_generations import DiscardedGenerations
from threadline.session.domain.message_delivery import MessageDelivery
from threadline.session.domain.message_state import HeldStatus, MessageState
from threadline.session.domain.outbound_messages import OutboundMessages
from threadline.session.domain.tool_calls import ToolCalls
from threadline.session.domain.transcripts import Transcripts


class Conversation(
    ConversationLifecycle,
    CustomerMessages,
    OutboundMessages,
    MessageDelivery,
    DiscardedGenerations,
    Attachments,
    Transcripts,
    ToolCalls,
    CollectedData,
    Aggregate,
):
    """Messages in and out, their statuses, the customer service window and who answers.

    Every command is idempotent: a message id, wamid or status already recorded changes nothing,
    so a redelivered fact or a retried request is a no-op.
    """

    # Version 2: a message's state is a `MessageState`, a held status a `HeldStatus` (version
    # 1 snapshots held dicts; `upcast_v1_v2` reads them). Version 3: the ids of the assistant's
    # discarded generations (`upcast_v2_v3`: none in an older snapshot). Version 4: what became
    # of each customer message's media (`upcast_v3_v4`: none in an older snapshot). Version 5:
    # what became of each voice note's transcription (`upcast_v4_v5`: none in an older
    # snapshot). Version 6: the ids of the recorded tool calls (`upcast_v5_v6`: none in an
    # older snapshot). Version 7: the customer data the assistant collected and the reports
    # recorded (`upcast_v6_v7`: none in an older snapshot). Events are unchanged (new event
    # fields have defaults instead: outbound_messages.py).
    class_version = 7

    @staticmethod
    def create_id(phone_number_id: str, customer_wa_id: str, customer_user_id: str) -> UUID:
        """A random id that carries its customer's partition slot, so the AI responder and
        outbound, which know only the conversation, publish its facts to the partition its
        customer's messages go to (`threadline.rules.partitions`)."""
        slot = customer_slot(phone_number_id, customer_wa_id, customer_user_id)
        return conversation_id_in_slot(slot)

    @event("Started")
    def __init__(
        self,
        contact_id: UUID,
        phone_number_id: str,
        customer_wa_id: str,
        customer_user_id: str,
        customer_name: str,
        session_key: str,
        channel: str = "whatsapp",
        opened_by: str = "customer",
        category: str = "SERVICE",
    ) -> None:
        self.contact_id = contact_id
        self.phone_number_id = phone_number_id
        self.customer_wa_id = customer_wa_id
        self.customer_user_id = customer_user_id
        self.customer_name = customer_name
        self.session_key = session_key
        self.channel = channel
        self.opened_by = opened_by
        self.category = category
        self.status = ACTIVE
        self.ai_paused = False
        self.last_inbound_at = None
        self.free_entry_until = None
        self.last_activity_at = None
        self.flow = None
        self.messages = {}
        self.message_ids_by_wamid = {}
        self.early_statuses = {}
        self.discarded_generations = []
        self.attachments = {}
        self.transcripts = {}
        self.tool_calls = []
        self.collected_data = {}
        self.data_collections = []

    # Every event of a conversation, by the part that declares it. Named here, each becomes
    # `Conversation.<Event>` (eventsourcing subclasses it from `Conversation.Event`).
    StatusChanged = ConversationLifecycle.StatusChanged
    HandedOff = ConversationLifecycle.HandedOff
    AutopilotResumed = ConversationLifecycle.AutopilotResumed
    AutoResolved = ConversationLifecycle.AutoResolved
    FlowStepReached = ConversationLifecycle.FlowStepReached
    CustomerIdentityLearned = CustomerMessages.CustomerIdentityLearned
    CustomerMessageReceived = CustomerMessages.CustomerMessageReceived
    CustomerMessageChanged = CustomerMessages.CustomerMessageChanged
    OutboundMessageQueued = OutboundMessages.OutboundMessageQueued
    OutboundMessageDispatched = MessageDelivery.OutboundMessageDispatched
    OutboundMessageDispatchFailed = MessageDelivery.OutboundMessageDispatchFailed
    MessageStatusChanged = MessageDelivery.MessageStatusChanged
    LateStatusRecorded = MessageDelivery.LateStatusRecorded
    EarlyStatusHeld = MessageDelivery.EarlyStatusHeld
    AssistantGenerationDiscarded = DiscardedGenerations.AssistantGenerationDiscarded
    AttachmentStored = Attachments.AttachmentStored
    AttachmentFailed = Attachments.AttachmentFailed
    TranscriptRecorded = Transcripts.TranscriptRecorded
    TranscriptMissing = Transcripts.TranscriptMissing
    ToolCallRecorded = ToolCalls.ToolCallRecorded
    DataCollected = CollectedData.DataCollected

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A version 1 snapshot: messages as `{"direction", "wamid", "status", "reported"}`
        dicts (`reported` comma-joined), held statuses as dicts with an ISO `reported_at`."""
        state["messages"] = {
            message_id: MessageState(
                direction=m["direction"],
                wamid=m["wamid"],
                status=m["status"],
                reported=tuple(filter(None, m.get("reported", "").split(","))),
            )
            for message_id, m in state["messages"].items()
        }
        state["early_statuses"] = {
            wamid: [
                HeldStatus(
                    status=r["status"],
                    reported_at=datetime.fromisoformat(r["reported_at"]),
                    pricing=r["pricing"],
                    errors=r["errors"],
                )
                for r in held
            ]
            for wamid, held in state["early_statuses"].items()
        }

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A version 2 snapshot: taken before generations were discarded, so none were."""
        state["discarded_generations"] = []

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """A version 3 snapshot: taken before customers' media was kept, so none was."""
        state["attachments"] = {}

    @staticmethod
    def upcast_v4_v5(state: dict[str, Any]) -> None:
        """A version 4 snapshot: taken before voice notes were transcribed, so none was."""
        state["transcripts"] = {}

    @staticmethod
    def upcast_v5_v6(state: dict[str, Any]) -> None:
        """A version 5 snapshot: taken before tools were called, so none was."""
        state["tool_calls"] = []

    @staticmethod
    def upcast_v6_v7(state: dict[str, Any]) -> None:
        """A version 6 snapshot: taken before the assistant collected customer data."""
        state["collected_data"] = {}
        state["data_collections"] = []


# Events renamed after they were first stored. History is never rewritten: a stored event keeps
# its old topic, and the old topic resolves to the renamed class when it is read back.
RENAMED_EVENTS = {
    "FlowStepRecorded": "FlowStepReached",
    "OutboundMessageFailed": "OutboundMessageDispatchFailed",
    "StatusReportedEarly": "EarlyStatusHeld",
}
for _old, _new in RENAMED_EVENTS.items():
    register_topic(f"{__name__}:Conversation.{_old}", getattr(Conversation, _new))
