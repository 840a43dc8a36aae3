"""Conversation status, hand-off, autopilot and auto-resolution."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

import pytest

from threadline.session.application.contacts import find_contact
from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import DraftedReply, FlowStepReached, InboundMessage
from threadline.session.application.outcomes import APPLIED, Ignored
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.application.views import ConversationView
from threadline.session.domain.business_number import business_number_id
from threadline.session.domain.errors import InvalidMessage, InvalidTransition
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


def started(app: Conversations, inbound: InboundFactory, wa_id: str) -> ConversationView:
    app.record_facts([inbound(wa_id=wa_id)])
    contact = find_contact(UnitOfWork(app.repository), "pn-1", wa_id, "")
    assert contact is not None and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def draft(conversation: ConversationView) -> DraftedReply:
    return DraftedReply(
        draft_id=uuid4().hex,
        conversation_id=conversation.id,
        in_reply_to_message_id="",
        content={"type": "text", "text": "Hi!"},
    )


def test_an_operator_completes_an_active_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552001")

    status = app.change_status(conversation.id, "completed", reason="solved", by="agent")

    assert status == "completed"


def test_a_closed_conversation_cannot_be_reopened_by_an_operator(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552002")
    app.change_status(conversation.id, "abandoned", reason="", by="agent")

    with pytest.raises(InvalidTransition, match="cannot become active"):
        app.change_status(conversation.id, "active", reason="", by="agent")


def test_an_unknown_status_is_rejected_with_the_known_ones(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552003")

    with pytest.raises(InvalidTransition, match="unknown status 'paused'"):
        app.change_status(conversation.id, "paused", reason="", by="agent")


def test_the_next_customer_message_after_closing_opens_a_new_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    first = started(app, inbound, "15552004")
    app.change_status(first.id, "completed", reason="", by="agent")

    second = started(app, inbound, "15552004")

    assert second.id != first.id and second.status == "active"


def test_a_hand_off_escalates_and_stops_the_assistant(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552005")
    app.hand_off(conversation.id, reason="asked for a person", by="agent")

    outcomes = app.record_facts([draft(conversation)])

    assert isinstance(outcomes[0], Ignored) and "handed off" in outcomes[0].reason
    assert app.find_conversation(conversation.id).status == "escalated"


def test_resuming_the_autopilot_lets_the_assistant_answer_again(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552006")
    app.hand_off(conversation.id, reason="", by="agent")

    status = app.resume_autopilot(conversation.id, by="agent")

    assert status == "active"
    assert app.record_facts([draft(conversation)]) == [APPLIED]


def test_autopilot_off_for_a_number_stops_the_assistant_there(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552007")
    app.set_autopilot("pn-1", False)

    outcomes = app.record_facts([draft(conversation)])

    assert isinstance(outcomes[0], Ignored) and "autopilot is off" in outcomes[0].reason


def test_a_draft_for_a_conversation_closed_meanwhile_is_ignored(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552011")
    app.change_status(conversation.id, "completed", reason="", by="agent")

    outcomes = app.record_facts([draft(conversation)])

    assert isinstance(outcomes[0], Ignored) and "completed" in outcomes[0].reason


def test_an_idle_conversation_is_completed_after_twelve_hours(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15552008")
    clock.advance(timedelta(hours=11, minutes=59))
    assert app.auto_resolve(conversation.id) is False

    clock.advance(timedelta(minutes=1))

    assert app.auto_resolve(conversation.id) is True
    assert app.find_conversation(conversation.id).status == "completed"


def test_a_numbers_auto_resolution_threshold_is_set_and_then_honoured(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15552012")
    app.set_auto_resolution("pn-1", 2)
    version = app.repository.get(business_number_id("pn-1")).version
    app.set_auto_resolution("pn-1", 2)  # the same value: nothing new recorded
    clock.advance(timedelta(hours=1, minutes=59))
    assert app.auto_resolve(conversation.id) is False

    clock.advance(timedelta(minutes=1))

    assert app.auto_resolve(conversation.id) is True
    assert app.auto_resolve_hours("pn-1") == 2
    assert app.repository.get(business_number_id("pn-1")).version == version


@pytest.mark.parametrize("hours", [0, -1, 721])
def test_an_auto_resolution_threshold_out_of_range_is_refused(
    app: Conversations, hours: int
) -> None:
    with pytest.raises(InvalidMessage, match="hours must be between 1 and 720"):
        app.set_auto_resolution("pn-1", hours)

    assert app.auto_resolve_hours("pn-1") == 12


def test_an_idle_conversation_with_an_unfinished_flow_is_abandoned(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    conversation = started(app, inbound, "15552009")
    app.record_facts(
        [
            FlowStepReached(
                conversation_id=conversation.id,
                flow_id="booking",
                step_id="ask-date",
                data={"party": 2},
                completed=False,
            )
        ]
    )
    clock.advance(timedelta(hours=12))

    app.auto_resolve(conversation.id)

    resolved = app.find_conversation(conversation.id)
    assert resolved.status == "abandoned"
    assert resolved.flow == {
        "flow_id": "booking",
        "step_id": "ask-date",
        "data": {"party": 2},
        "completed": False,
        "expires_at": None,
        "status": "",
        "flow_version": 0,
    }


def test_the_flow_records_its_step_data_and_completion(
    app: Conversations, inbound: InboundFactory
) -> None:
    conversation = started(app, inbound, "15552010")
    step = FlowStepReached(
        conversation_id=conversation.id,
        flow_id="booking",
        step_id="done",
        data={"date": "2026-12-01"},
        completed=True,
    )

    app.record_facts([step, step])

    recorded = app.find_conversation(conversation.id)
    assert recorded.flow is not None and recorded.flow["completed"] is True
    assert recorded.version == conversation.version + 1
