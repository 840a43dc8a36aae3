"""How each fact changes the aggregates. Each handler loads through the batch's unit of work,
acts, and says what became of the fact; saving is the caller's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from threadline.rules.testchat import channel_of
from threadline.servicekit.clock import Clock
from threadline.session.application.contacts import find_contact, find_or_register_contact
from threadline.session.application.facts import (
    CollectedData,
    DiscardedGeneration,
    DispatchReport,
    DraftedReply,
    FlowStepReached,
    HandOffRequest,
    HeardVoiceNote,
    InboundMessage,
    KeptMedia,
    MediaNotKept,
    StatusReport,
    ToolCallReport,
    UnheardVoiceNote,
)
from threadline.session.application.outcomes import APPLIED, Ignored, Outcome
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.business_number import BusinessNumber, business_number_id
from threadline.session.domain.contact import Contact, contact_key_id, contact_keys
from threadline.session.domain.conversation import Conversation
from threadline.session.domain.errors import ConversationNotFound
from threadline.session.domain.identity import drafted_message_id, inbound_message_id
from threadline.session.domain.transcripts import TRANSCRIPT_LIMIT

log = logging.getLogger(__name__)
CHANGES = frozenset({"edit", "revoke", "reaction"})


def business_number(unit: UnitOfWork, phone_number_id: str) -> BusinessNumber:
    """The number's settings, registered with the defaults on first use."""
    found = unit.get(business_number_id(phone_number_id), BusinessNumber)
    if found is None:
        found = BusinessNumber(phone_number_id=phone_number_id)
        unit.add(found)
    return found


def conversation(unit: UnitOfWork, conversation_id: Any) -> Conversation:
    found = unit.get(conversation_id, Conversation)
    if found is None:
        raise ConversationNotFound(conversation_id)
    return found


def open_conversation(unit: UnitOfWork, contact: Contact, **opening: str) -> Conversation:
    """The contact's open conversation on this number, else a new one."""
    if contact.open_conversation_id is not None:
        found = unit.get(contact.open_conversation_id, Conversation)
        if found is not None and found.is_open:
            return found
    channel = channel_of(contact.user_id)  # a tester's (the test chat), else WhatsApp
    started = Conversation(
        contact_id=contact.id,
        phone_number_id=contact.phone_number_id,
        customer_wa_id=contact.wa_id,
        customer_user_id=contact.user_id,
        customer_name=contact.profile_name,
        session_key=f"{channel}_+{contact.wa_id or contact.user_id}",
        channel=channel,
        **opening,
    )
    unit.add(started)
    # Saved with the conversation: a concurrent first message conflicts on the contact's
    # version instead of opening a second conversation.
    contact.open_conversation(started.id)
    return started


def record_inbound(fact: InboundMessage, unit: UnitOfWork, clock: Clock) -> Outcome:
    contact = find_or_register_contact(
        unit, fact.phone_number_id, fact.wa_id, fact.user_id, fact.profile_name
    )
    business_number(unit, fact.phone_number_id)
    talk = open_conversation(unit, contact)
    talk.learn_customer_identity(wa_id=contact.wa_id, user_id=contact.user_id)
    message_id = inbound_message_id(fact.wamid)
    if fact.content.get("type") in CHANGES:
        talk.record_customer_change(
            message_id=message_id,
            wamid=fact.wamid,
            kind=fact.content["type"],
            target_wamid=fact.target_wamid,
            content=fact.content,
            sent_at=fact.sent_at,
            metadata=fact.metadata,
            trace=fact.trace,
        )
    else:
        talk.receive_customer_message(
            message_id=message_id,
            wamid=fact.wamid,
            content=fact.content,
            sent_at=fact.sent_at,
            context_wamid=fact.context_wamid,
            metadata=fact.metadata,
            trace=fact.trace,
            free_entry=fact.free_entry,
        )
    return APPLIED


def record_status(fact: StatusReport, unit: UnitOfWork, clock: Clock) -> Outcome:
    contact = find_contact(unit, fact.phone_number_id, fact.recipient_wa_id, fact.recipient_user_id)
    talks = [
        c
        for cid in (contact.recent_conversations() if contact else [])
        if (c := unit.get(cid, Conversation)) is not None
    ]
    for talk in talks:
        if talk.knows(fact.wamid):
            changed = talk.report_status(
                wamid=fact.wamid,
                status=fact.status,
                reported_at=fact.reported_at,
                pricing=fact.pricing,
                errors=fact.errors,
                trace=fact.trace,
            )
            return APPLIED if changed else Ignored(f"status {fact.status} already recorded")
    # The status may have overtaken the dispatch result that names the wamid: the
    # conversation waiting for one holds it until then.
    waiting = next((t for t in talks if t.awaits_dispatch()), None)
    if waiting is None:
        # Outbound sends only what the session queued, and a queued message awaits its
        # dispatch result: a status matching nothing is for a message sent elsewhere.
        return Ignored(f"status {fact.status} for {fact.wamid}, not a message sent from here")
    waiting.hold_early_status(
        wamid=fact.wamid,
        status=fact.status,
        reported_at=fact.reported_at,
        pricing=fact.pricing,
        errors=fact.errors,
    )
    return APPLIED


def accept_draft(fact: DraftedReply, unit: UnitOfWork, clock: Clock) -> Outcome:
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_open:
        return Ignored(f"conversation {talk.id} was {talk.status} before the reply was drafted")
    if talk.ai_paused:
        return Ignored(f"conversation {talk.id} is handed off to a human")
    if not business_number(unit, talk.phone_number_id).autopilot:
        return Ignored(f"autopilot is off for {talk.phone_number_id}")
    talk.queue_outbound(
        message_id=drafted_message_id(fact.draft_id),
        author=fact.author,
        content=fact.content,
        now=clock(),
        in_reply_to=fact.in_reply_to_message_id,
        trace=fact.trace,
        model=fact.model,
        prompt_tokens=fact.prompt_tokens,
        completion_tokens=fact.completion_tokens,
        cached_tokens=fact.cached_tokens,
        latency_ms=fact.latency_ms,
        assistant=fact.assistant,
        assistant_version=fact.assistant_version,
        cost=fact.cost,
        covered_message_ids=fact.covered_message_ids,
        quoted_message_id=_quotable(talk, fact),
        interpretation=fact.interpretation,
        citations=tuple(c.stored() for c in fact.citations),
    )
    return APPLIED


def _quotable(talk: Conversation, fact: DraftedReply) -> str:
    """The message the draft quotes, when the conversation can quote it; else none (logged):
    a reply is never lost over its quote."""
    quoted = fact.quoted_message_id
    if quoted and not talk.can_quote(quoted):
        log.warning(
            "draft %s quotes %s, which %s cannot quote: sent unquoted",
            fact.draft_id,
            quoted,
            talk.id,
        )
        return ""
    return quoted


def record_discarded_generation(
    fact: DiscardedGeneration, unit: UnitOfWork, clock: Clock
) -> Outcome:
    """Kept on the conversation whatever its status (the tokens were spent); one the session
    never opened is refused as a draft for it is."""
    recorded = conversation(unit, fact.conversation_id).record_discarded_generation(
        generation_id=fact.generation_id,
        model=fact.model,
        assistant=fact.assistant,
        assistant_version=fact.assistant_version,
        prompt_tokens=fact.prompt_tokens,
        completion_tokens=fact.completion_tokens,
        cached_tokens=fact.cached_tokens,
        cost=fact.cost,
        latency_ms=fact.latency_ms,
        covered_message_ids=fact.covered_message_ids,
        trace=fact.trace,
    )
    return APPLIED if recorded else Ignored(f"generation {fact.generation_id} already recorded")


def record_dispatch(fact: DispatchReport, unit: UnitOfWork, clock: Clock) -> Outcome:
    talk = conversation(unit, fact.conversation_id)
    if fact.succeeded:
        talk.record_dispatch(message_id=fact.message_id, wamid=fact.wamid, trace=fact.trace)
    else:
        talk.record_dispatch_failure(
            message_id=fact.message_id,
            code=fact.error_code,
            title=fact.error_title,
            detail=fact.error_detail,
            trace=fact.trace,
        )
    return APPLIED


def record_kept_media(fact: KeptMedia, unit: UnitOfWork, clock: Clock) -> Outcome:
    """The attachment, on the conversation whatever its status; media of no customer message of
    it is ignored as a dispatch report of a message it never queued is, and one of a
    conversation the session never opened is refused as a dispatch report for it is."""
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_customer_message(fact.message_id):
        return Ignored(
            f"media {fact.media_id}: {fact.message_id} is no customer message of {talk.id}"
        )
    stored = talk.store_attachment(
        message_id=fact.message_id,
        media_id=fact.media_id,
        media_type=fact.media_type,
        content_type=fact.content_type,
        size=fact.size,
        sha256=fact.sha256,
        file_name=fact.file_name,
        caption=fact.caption,
        voice=fact.voice,
        location=fact.location,
        kept_at=fact.kept_at,
        trace=fact.trace,
    )
    return APPLIED if stored else Ignored(f"attachment of {fact.message_id} already stored")


def record_media_not_kept(fact: MediaNotKept, unit: UnitOfWork, clock: Clock) -> Outcome:
    """Why the media could not be kept, once (as `record_kept_media`); after the media was
    stored, a late failure changes nothing."""
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_customer_message(fact.message_id):
        return Ignored(
            f"media {fact.media_id}: {fact.message_id} is no customer message of {talk.id}"
        )
    failed = talk.fail_attachment(
        message_id=fact.message_id,
        media_id=fact.media_id,
        media_type=fact.media_type,
        reason=fact.reason,
        refused=fact.refused,
        attempts=fact.attempts,
        failed_at=fact.failed_at,
        trace=fact.trace,
    )
    return APPLIED if failed else Ignored(f"attachment of {fact.message_id} already recorded")


def record_transcript(fact: HeardVoiceNote, unit: UnitOfWork, clock: Clock) -> Outcome:
    """The voice note's transcript, on the conversation whatever its status (as
    `record_kept_media`), cut to TRANSCRIPT_LIMIT characters (logged); one of no customer
    message of the conversation is ignored, one of a conversation never opened refused."""
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_customer_message(fact.message_id):
        return Ignored(f"transcript: {fact.message_id} is no customer message of {talk.id}")
    recorded = talk.record_transcript(
        message_id=fact.message_id,
        text=fact.text,
        language=fact.language,
        model=fact.model,
        duration_seconds=fact.duration_seconds,
        transcribed_at=fact.transcribed_at,
        trace=fact.trace,
    )
    if not recorded:
        return Ignored(f"transcript of {fact.message_id} already recorded")
    if len(fact.text) > TRANSCRIPT_LIMIT:
        log.warning(
            "transcript of %s is %d characters; its first %d are recorded",
            fact.message_id,
            len(fact.text),
            TRANSCRIPT_LIMIT,
        )
    return APPLIED


def record_missing_transcript(fact: UnheardVoiceNote, unit: UnitOfWork, clock: Clock) -> Outcome:
    """Why the voice note could not be heard, once (as `record_transcript`); after its
    transcript was recorded, a late failure changes nothing."""
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_customer_message(fact.message_id):
        return Ignored(f"transcript: {fact.message_id} is no customer message of {talk.id}")
    missing = talk.record_missing_transcript(
        message_id=fact.message_id,
        reason=fact.reason,
        model=fact.model,
        failed_at=fact.failed_at,
        trace=fact.trace,
    )
    return APPLIED if missing else Ignored(f"transcript of {fact.message_id} already recorded")


def record_tool_call(fact: ToolCallReport, unit: UnitOfWork, clock: Clock) -> Outcome:
    """The call on its conversation, once by its id, whatever the conversation's status."""
    recorded = conversation(unit, fact.conversation_id).record_tool_call(
        call_id=fact.call_id,
        generation_id=fact.generation_id,
        tool=fact.tool,
        arguments_json=fact.arguments_json,
        status=fact.status,
        http_status=fact.http_status,
        result_json=fact.result_json,
        latency_ms=fact.latency_ms,
        mutating=fact.mutating,
        replayed=fact.replayed,
        trace=fact.trace,
    )
    return APPLIED if recorded else Ignored(f"tool call {fact.call_id} already recorded")


def record_hand_off(fact: HandOffRequest, unit: UnitOfWork, clock: Clock) -> Outcome:
    talk = conversation(unit, fact.conversation_id)
    if not talk.is_open:
        return Ignored(f"conversation {talk.id} is {talk.status}")
    talk.hand_off(reason=fact.reason, by="ai")
    return APPLIED


def reach_flow_step(fact: FlowStepReached, unit: UnitOfWork, clock: Clock) -> Outcome:
    """The step on the conversation, and the data it collected on its contact (only the
    fields whose value the contact does not have yet), in the same unit of work."""
    talk = conversation(unit, fact.conversation_id)
    reached = talk.reach_flow_step(
        flow_id=fact.flow_id,
        step_id=fact.step_id,
        data=fact.data,
        completed=fact.completed,
        expires_at=fact.expires_at,
        status=fact.status,
        flow_version=fact.flow_version,
    )
    if reached and fact.data:
        contact = unit.get(talk.contact_id, Contact)
        if contact is None:
            log.warning("conversation %s has no contact %s", talk.id, talk.contact_id)
        else:
            contact.collect_data(talk.id, fact.data)
    return APPLIED


def collect_data(fact: CollectedData, unit: UnitOfWork, clock: Clock) -> Outcome:
    """The values the assistant collected on the conversation (those that change its data,
    once by the report's id, whatever its status) and on its contact (those the contact does
    not have yet), in the same unit of work."""
    talk = conversation(unit, fact.conversation_id)
    changed = talk.collect_data(
        event_id=fact.event_id, generation_id=fact.generation_id, fields=fact.fields
    )
    if not changed:
        return Ignored(f"collected data {fact.event_id} already recorded or unchanged")
    contact = unit.get(talk.contact_id, Contact)
    if contact is None:
        log.warning("conversation %s has no contact %s", talk.id, talk.contact_id)
    else:
        contact.collect_data(talk.id, changed)
    return APPLIED


def small_aggregates(fact: Any) -> list[UUID]:
    """Ids a fact will look up among the many small aggregates (contact keys, business
    numbers), so a batch can load them all with one query."""
    if isinstance(fact, InboundMessage):
        keys = contact_keys(fact.wa_id, fact.user_id)
        number = fact.phone_number_id
    elif isinstance(fact, StatusReport):
        keys = contact_keys(fact.recipient_wa_id, fact.recipient_user_id)
        number = fact.phone_number_id
    else:
        return []
    return [business_number_id(number), *(contact_key_id(number, key) for key in keys)]


HANDLERS: dict[type[Any], Callable[[Any, UnitOfWork, Clock], Outcome]] = {
    InboundMessage: record_inbound,
    StatusReport: record_status,
    DraftedReply: accept_draft,
    DispatchReport: record_dispatch,
    HandOffRequest: record_hand_off,
    FlowStepReached: reach_flow_step,
    DiscardedGeneration: record_discarded_generation,
    KeptMedia: record_kept_media,
    MediaNotKept: record_media_not_kept,
    HeardVoiceNote: record_transcript,
    UnheardVoiceNote: record_missing_transcript,
    ToolCallReport: record_tool_call,
    CollectedData: collect_data,
}
