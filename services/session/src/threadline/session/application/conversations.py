"""The session's use cases: record facts in micro-batches, accept operator messages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from threadline.session.application.facts import (
    DispatchResult,
    DraftedReply,
    Fact,
    InboundMessage,
    OutboundRequest,
    StatusReport,
)
from threadline.session.application.outcomes import (
    APPLIED,
    Ignored,
    NotYet,
    Outcome,
    Rejected,
)
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.contact import Contact
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.errors import ConversationNotFound, DomainError
from threadline.session.domain.identity import (
    contact_id,
    drafted_message_id,
    inbound_message_id,
    requested_message_id,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
CONFLICT_RETRIES = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class Conversations(Application[UUID]):
    """Contacts and conversations of every business number, stored as events."""

    name = "Session"
    snapshotting_intervals: ClassVar = {Conversation: 200}

    def __init__(self, env: dict[str, str] | None = None, *, clock: Clock = utc_now) -> None:
        super().__init__(env)
        self.clock = clock
        self._handlers: dict[type[Any], Callable[[Any, UnitOfWork], Outcome]] = {
            InboundMessage: self._record_inbound,
            StatusReport: self._record_status,
            DraftedReply: self._accept_draft,
            DispatchResult: self._record_dispatch,
        }

    # Commands ------------------------------------------------------------------------

    def record_facts(self, facts: Sequence[Fact]) -> list[Outcome]:
        """Apply a batch and save it in one transaction (group commit).

        When the batch cannot be saved whole (a concurrent writer, or one fact that breaks),
        each fact is applied and saved alone, so one poison fact cannot block the others.
        """
        unit = UnitOfWork(self.repository)
        try:
            outcomes = [self._apply(fact, unit) for fact in facts]
            self.save(*unit.changed())
            return outcomes
        except Exception as error:
            unit.forget()
            log.warning("batch of %d facts falls back to one at a time: %r", len(facts), error)
        return [self._record_alone(fact) for fact in facts]

    def send_message(self, request: OutboundRequest) -> UUID:
        """Queue an operator's message; a repeated idempotency key returns the first id."""
        message_id = requested_message_id(request.conversation_id, request.idempotency_key)
        for _ in range(CONFLICT_RETRIES):
            unit = UnitOfWork(self.repository)
            conversation = unit.get(request.conversation_id, Conversation)
            if conversation is None:
                raise ConversationNotFound(request.conversation_id)
            conversation.queue_outbound(
                message_id=message_id,
                author=request.author,
                content=request.content,
                now=self.clock(),
            )
            try:
                self.save(*unit.changed())
                return message_id
            except IntegrityError:
                unit.forget()
        raise DomainError("the conversation is changing too fast; try again")

    # Queries -------------------------------------------------------------------------

    def find_conversation(self, conversation_id: UUID) -> Conversation:
        unit = UnitOfWork(self.repository)
        conversation = unit.get(conversation_id, Conversation)
        if conversation is None:
            raise ConversationNotFound(conversation_id)
        return conversation

    # Fact handlers -------------------------------------------------------------------

    def _record_alone(self, fact: Fact) -> Outcome:
        for _ in range(CONFLICT_RETRIES):
            unit = UnitOfWork(self.repository)
            try:
                outcome = self._apply(fact, unit)
                self.save(*unit.changed())
                return outcome
            except IntegrityError:
                unit.forget()
                continue
            except Exception as error:
                log.exception("fact %r cannot be recorded", fact)
                return Rejected(f"{type(error).__name__}: {error}", slug="poison")
        return NotYet("optimistic concurrency conflicts persisted")

    def _apply(self, fact: Fact, unit: UnitOfWork) -> Outcome:
        try:
            return self._handlers[type(fact)](fact, unit)
        except DomainError as error:
            return Rejected(str(error), slug=type(error).__name__)

    def _record_inbound(self, fact: InboundMessage, unit: UnitOfWork) -> Outcome:
        contact = self._contact_for(fact, unit)
        conversation = self._open_conversation(contact, unit)
        conversation.receive_customer_message(
            message_id=inbound_message_id(fact.wamid),
            wamid=fact.wamid,
            content=fact.content,
            sent_at=fact.sent_at,
            context_wamid=fact.context_wamid,
            metadata=fact.metadata,
            trace=fact.trace,
        )
        return APPLIED

    def _contact_for(self, fact: InboundMessage, unit: UnitOfWork) -> Contact:
        found = unit.get(contact_id(fact.phone_number_id, fact.wa_id, fact.user_id), Contact)
        if found is not None:
            return found
        contact = Contact(
            phone_number_id=fact.phone_number_id,
            wa_id=fact.wa_id,
            user_id=fact.user_id,
            profile_name=fact.profile_name,
        )
        unit.add(contact)
        return contact

    def _open_conversation(self, contact: Contact, unit: UnitOfWork) -> Conversation:
        if contact.open_conversation_id is not None:
            found = unit.get(contact.open_conversation_id, Conversation)
            if found is not None:
                return found
        conversation = Conversation(
            contact_id=contact.id,
            phone_number_id=contact.phone_number_id,
            customer_wa_id=contact.wa_id,
            customer_user_id=contact.user_id,
            customer_name=contact.profile_name,
            session_key=f"whatsapp_+{contact.wa_id or contact.user_id}",
        )
        unit.add(conversation)
        # Saved with the conversation: a concurrent first message conflicts on the contact's
        # version instead of opening a second conversation.
        contact.open_conversation(conversation.id)
        return conversation

    def _record_status(self, fact: StatusReport, unit: UnitOfWork) -> Outcome:
        contact = unit.get(
            contact_id(fact.phone_number_id, fact.recipient_wa_id, fact.recipient_user_id),
            Contact,
        )
        conversations = [
            c
            for cid in (contact.recent_conversations() if contact else [])
            if (c := unit.get(cid, Conversation)) is not None
        ]
        for conversation in conversations:
            if conversation.knows(fact.wamid):
                changed = conversation.report_status(
                    wamid=fact.wamid,
                    status=fact.status,
                    reported_at=fact.reported_at,
                    pricing=fact.pricing,
                    errors=fact.errors,
                    trace=fact.trace,
                )
                return (
                    APPLIED if changed else Ignored(f"status {fact.status} is not a forward move")
                )
        # The status may have overtaken the dispatch result that names the wamid: the
        # conversation waiting for one holds it until then.
        waiting = next((c for c in conversations if c.awaits_dispatch()), None)
        if waiting is None:
            return NotYet(f"no message with wamid {fact.wamid} (yet)")
        waiting.hold_early_status(
            wamid=fact.wamid,
            status=fact.status,
            reported_at=fact.reported_at,
            pricing=fact.pricing,
            errors=fact.errors,
        )
        return APPLIED

    def _accept_draft(self, fact: DraftedReply, unit: UnitOfWork) -> Outcome:
        conversation = unit.get(fact.conversation_id, Conversation)
        if conversation is None:
            raise ConversationNotFound(fact.conversation_id)
        conversation.queue_outbound(
            message_id=drafted_message_id(fact.draft_id),
            author="ai",
            content=fact.content,
            now=self.clock(),
            in_reply_to=fact.in_reply_to_message_id,
            trace=fact.trace,
        )
        return APPLIED

    def _record_dispatch(self, fact: DispatchResult, unit: UnitOfWork) -> Outcome:
        conversation = unit.get(fact.conversation_id, Conversation)
        if conversation is None:
            raise ConversationNotFound(fact.conversation_id)
        if fact.succeeded:
            conversation.record_dispatch(
                message_id=fact.message_id, wamid=fact.wamid, trace=fact.trace
            )
        else:
            conversation.record_dispatch_failure(
                message_id=fact.message_id,
                code=fact.error_code,
                title=fact.error_title,
                detail=fact.error_detail,
                trace=fact.trace,
            )
        return APPLIED
