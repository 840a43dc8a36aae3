"""Projecting conversations: opener and category, status moves, hand-offs, flows, costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project
from threadline.analytics.domain.write.rates import Rates, TokenPrice

if TYPE_CHECKING:
    from conftest import EventLog

RATES = Rates(
    language_models={
        "default": TokenPrice(Decimal("1"), Decimal("2")),
        "big-model": TokenPrice(Decimal("10"), Decimal("30")),
    },
    whatsapp={"default": Decimal(0), "marketing": Decimal("0.05")},
)


def test_a_conversation_the_business_opened_keeps_its_opener_and_category(
    log: EventLog,
) -> None:
    conversation = uuid4()

    row = project(
        [log.conversation(conversation, uuid4(), opened_by="business", category="MARKETING")]
    ).conversations[conversation]

    assert (row.opened_by, row.category) == ("business", "MARKETING")


def test_a_conversation_started_without_opener_or_category_gets_the_sessions_defaults(
    log: EventLog,
) -> None:
    conversation = uuid4()
    event = log.conversation(conversation, uuid4())
    event.conversation_started.ClearField("opened_by")
    event.conversation_started.ClearField("category")

    row = project([event]).conversations[conversation]

    assert (row.opened_by, row.category) == ("customer", "SERVICE")


def test_a_hand_off_escalates_pauses_the_assistant_and_counts(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.status_changed(
                conversation, "escalated", ai_paused=True, reason="asked for a person", by="ai"
            )
        ]
    ).conversation_patches[conversation]

    assert (patch.status, patch.ai_paused, patch.hand_offs) == ("escalated", True, 1)
    assert (patch.status_reason, patch.status_changed_by) == ("asked for a person", "ai")
    assert patch.status_changed_at == log.now


def test_each_move_into_escalated_is_one_more_hand_off(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.status_changed(conversation, "escalated", ai_paused=True),
            log.status_changed(conversation, "active", ai_paused=False),
            log.status_changed(conversation, "escalated", ai_paused=True),
        ]
    ).conversation_patches[conversation]

    assert (patch.status, patch.hand_offs) == ("escalated", 2)


def test_resolving_a_conversation_closes_it_and_gives_the_assistant_back(
    log: EventLog,
) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.status_changed(conversation, "escalated", ai_paused=True),
            log.status_changed(conversation, "abandoned", ai_paused=False, by="system"),
        ]
    ).conversation_patches[conversation]

    assert (patch.status, patch.ai_paused, patch.closed_at) == ("abandoned", False, log.now)


def test_the_latest_flow_step_is_kept(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.flow_step(conversation, "booking", "ask-date"),
            log.flow_step(conversation, "booking", "confirm", completed=True),
        ]
    ).conversation_patches[conversation]

    assert (patch.flow_id, patch.flow_step, patch.flow_completed) == ("booking", "confirm", True)


def test_the_assistant_is_the_model_of_the_first_ai_reply(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.queued(conversation, "m-1", author="agent"),
            log.queued(conversation, "m-2", model="small-model", prompt_tokens=10),
            log.queued(conversation, "m-3", model="big-model", prompt_tokens=10),
        ]
    ).conversation_patches[conversation]

    assert patch.assistant == "small-model"


def test_tokens_and_language_model_cost_add_up_over_the_replies(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.queued(
                conversation, "m-1", model="big-model", prompt_tokens=1000, completion_tokens=500
            ),
            log.queued(
                conversation, "m-2", model="unknown", prompt_tokens=2000, completion_tokens=0
            ),
        ],
        rates=RATES,
    ).conversation_patches[conversation]

    assert (patch.prompt_tokens, patch.completion_tokens) == (3000, 500)
    # big-model: 1 x 10 + 0.5 x 30 = 25; unknown at the default: 2 x 1 = 2
    assert patch.llm_cost == Decimal(27)


def test_customer_messages_set_the_first_message_time_and_renew_the_window(
    log: EventLog,
) -> None:
    conversation = uuid4()
    first = log.inbound(conversation, "m-1")
    log.wait(timedelta(hours=2))
    second = log.inbound(conversation, "m-2")

    patch = project([first, second]).conversation_patches[conversation]

    assert patch.first_customer_message_at == first.occurred_at.ToDatetime().replace(
        tzinfo=log.now.tzinfo
    )
    assert patch.last_inbound_at == log.now
    assert patch.free_entry_until is None


def test_a_free_entry_message_opens_a_72_hour_window_from_when_it_was_sent(
    log: EventLog,
) -> None:
    conversation = uuid4()
    sent = log.now - timedelta(minutes=5)

    patch = project(
        [log.inbound(conversation, "m-1", free_entry=True, sent_at=sent)]
    ).conversation_patches[conversation]

    assert patch.last_inbound_at == sent
    assert patch.free_entry_until == sent + timedelta(hours=72)


def test_a_free_entry_message_sent_at_the_end_of_the_calendar_saturates_its_window(
    log: EventLog,
) -> None:
    # Issue 8: a far-future timestamp with a referral overflowed here and the event was
    # dead-lettered (absent from every read model).
    conversation = uuid4()
    sent = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

    patch = project(
        [log.inbound(conversation, "m-1", free_entry=True, sent_at=sent)]
    ).conversation_patches[conversation]

    assert patch.free_entry_until == datetime.max.replace(tzinfo=UTC)
