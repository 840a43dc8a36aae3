"""What a run of session events does to the read models, folded in position order.

Folding first and writing after turns a batch of hundreds of events into a few multi-row
statements: inserts of new rows, then one merged patch per row. Applying the merged changes
gives the same rows as applying the events one by one, because each later event's value
overrides the earlier ones, counts add up and histories append in order. What depends on rows
of earlier batches (which customer messages a reply answers, whether a message was already
charged) is left to the statements, in position order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from threadline.analytics.domain.write.rates import EXAMPLE_RATES, Rates
from threadline.analytics.domain.write.rows_and_patches import (
    AttachmentRow,
    BusinessNumberPatch,
    BusinessNumberRow,
    Charge,
    ContactKeyRow,
    ContactPatch,
    ContactRow,
    ConversationPatch,
    ConversationRow,
    MessagePatch,
    MessageRow,
    Reply,
    ResponseFact,
    TemplateRow,
    ToolCallRow,
    TranscriptRow,
)


class ProjectionError(ValueError):
    """An event that can never be projected (malformed or contradicting the read models)."""


@dataclass
class Changes:
    rates: Rates = EXAMPLE_RATES
    numbers: dict[UUID, BusinessNumberRow] = field(default_factory=dict)
    number_patches: dict[UUID, BusinessNumberPatch] = field(default_factory=dict)
    templates: dict[tuple[UUID, str, str], TemplateRow] = field(default_factory=dict)
    contacts: dict[UUID, ContactRow] = field(default_factory=dict)
    contact_patches: dict[UUID, ContactPatch] = field(default_factory=dict)
    contact_keys: dict[tuple[str, str], ContactKeyRow] = field(default_factory=dict)
    conversations: dict[UUID, ConversationRow] = field(default_factory=dict)
    conversation_patches: dict[UUID, ConversationPatch] = field(default_factory=dict)
    messages: dict[str, MessageRow] = field(default_factory=dict)
    patches: dict[str, MessagePatch] = field(default_factory=dict)
    waiting: dict[str, ResponseFact] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    charges: dict[str, Charge] = field(default_factory=dict)
    attachments: dict[str, AttachmentRow] = field(default_factory=dict)
    transcripts: dict[str, TranscriptRow] = field(default_factory=dict)
    tool_calls: dict[str, ToolCallRow] = field(default_factory=dict)

    # Business numbers and contacts -----------------------------------------------------

    def register_number(self, row: BusinessNumberRow) -> None:
        self.numbers[row.id] = row

    def number(self, number_id: UUID, at: datetime) -> BusinessNumberPatch:
        patch = self.number_patches.get(number_id)
        if patch is None:
            patch = self.number_patches[number_id] = BusinessNumberPatch(updated_at=at)
        patch.updated_at = at
        return patch

    def register_template(self, row: TemplateRow) -> None:
        key = (row.number_id, row.name, row.language)
        earlier = self.templates.get(key)
        if earlier is not None:  # as if written one by one: first registered, last content
            row = replace(row, registered_at=earlier.registered_at, updated_at=row.registered_at)
        self.templates[key] = row

    def register_contact(self, row: ContactRow) -> None:
        self.contacts[row.id] = row

    def contact(self, contact_id: UUID, at: datetime) -> ContactPatch:
        patch = self.contact_patches.get(contact_id)
        if patch is None:
            patch = self.contact_patches[contact_id] = ContactPatch(updated_at=at)
        patch.updated_at = at
        return patch

    def claim_key(self, row: ContactKeyRow) -> None:
        self.contact_keys.setdefault((row.business_number, row.key), row)

    # Conversations and messages --------------------------------------------------------

    def start_conversation(self, row: ConversationRow) -> None:
        if row.id in self.conversations:
            raise ProjectionError(f"conversation {row.id} started twice")
        self.conversations[row.id] = row

    def conversation(self, conversation_id: UUID, at: datetime) -> ConversationPatch:
        patch = self.conversation_patches.get(conversation_id)
        if patch is None:
            patch = self.conversation_patches[conversation_id] = ConversationPatch(updated_at=at)
        elif at > patch.updated_at:
            patch.updated_at = at
        return patch

    def add_message(self, row: MessageRow, *, preview: str) -> None:
        if row.id in self.messages:
            raise ProjectionError(f"message {row.id!r} added twice")
        self.messages[row.id] = row
        patch = self.conversation(row.conversation_id, row.created_at)
        patch.added += 1
        patch.last_message_at = row.created_at
        patch.preview = preview

    def message(self, message_id: str, at: datetime) -> MessagePatch:
        patch = self.patches.get(message_id)
        if patch is None:  # not `setdefault`: it would build a patch on every call
            patch = self.patches[message_id] = MessagePatch(updated_at=at)
        patch.updated_at = at
        return patch

    def patch_message(
        self,
        message_id: str,
        at: datetime,
        *,
        wamid: str | None = None,
        status: str | None = None,
        metadata: dict[str, object] | None = None,
    ) -> MessagePatch:
        patch = self.message(message_id, at)
        if wamid:
            patch.wamid = wamid
        if status:
            patch.status = status
        if metadata:
            patch.metadata.update(metadata)
        return patch

    def keep_attachment(self, row: AttachmentRow) -> None:
        """The latest facts of a message's attachment; an earlier one of the batch keeps its
        position and time, as the upsert keeps the stored row's, and one naming the same
        message in another conversation is passed over, as the upsert passes it over."""
        earlier = self.attachments.get(row.message_id)
        if earlier is not None:
            if earlier.conversation_id != row.conversation_id:
                return  # the same message id in another conversation: the first is kept
            row = replace(row, position=earlier.position, created_at=earlier.created_at)
        else:
            # A transcript earlier in the batch creates the row first (pending), as it would
            # have had it been written alone: its position, time and conversation hold.
            heard = self.transcripts.get(row.message_id)
            if heard is not None:
                if heard.conversation_id != row.conversation_id:
                    return
                row = replace(row, position=heard.position, created_at=heard.created_at)
        self.attachments[row.message_id] = row

    def keep_transcript(self, row: TranscriptRow) -> None:
        """The latest transcript of a message's voice note, written after the batch's
        attachments (only its own columns change on an existing row); the first one of the
        batch keeps its position and time, and one naming the message in another
        conversation than the batch's earlier attachment or transcript is passed over."""
        attachment = self.attachments.get(row.message_id)
        if attachment is not None and attachment.conversation_id != row.conversation_id:
            return
        earlier = self.transcripts.get(row.message_id)
        if earlier is not None:
            if earlier.conversation_id != row.conversation_id:
                return
            row = replace(row, position=earlier.position, created_at=earlier.created_at)
        self.transcripts[row.message_id] = row

    def record_tool_call(self, row: ToolCallRow) -> None:
        """A tool call, kept once per call id: the first of the batch, as the insert keeps
        the stored one."""
        self.tool_calls.setdefault(row.call_id, row)

    # Facts for the metrics -------------------------------------------------------------

    def await_answer(self, fact: ResponseFact) -> None:
        self.waiting[fact.message_id] = fact

    def answer(self, reply: Reply) -> None:
        self.replies.append(reply)

    def charge(self, message_id: str, category: str) -> None:
        """The message is billable: charged once, at its first billable status (a message
        charged by an earlier batch is left alone when written)."""
        if message_id not in self.charges:
            cost = self.rates.whatsapp_cost(category)
            self.charges[message_id] = Charge(message_id, category, cost)

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.numbers,
                self.number_patches,
                self.templates,
                self.contacts,
                self.contact_patches,
                self.contact_keys,
                self.conversations,
                self.conversation_patches,
                self.messages,
                self.patches,
                self.waiting,
                self.replies,
                self.charges,
                self.attachments,
                self.transcripts,
                self.tool_calls,
            )
        )
