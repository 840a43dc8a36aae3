"""Projecting messages: response facts, replies, changes by the customer, statuses, pricing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING
from uuid import uuid4

from threadline.analytics.domain.write.projection import project
from threadline.analytics.domain.write.rates import Rates, TokenPrice
from threadline.contracts.events.v1 import common_pb2

if TYPE_CHECKING:
    from conftest import EventLog

RATES = Rates(
    language_models={"default": TokenPrice(Decimal("0.5"), Decimal("1.5"))},
    whatsapp={"default": Decimal("0.01"), "marketing": Decimal("0.05")},
)


def billable(category: str) -> common_pb2.Pricing:
    return common_pb2.Pricing(billable=True, category=category, pricing_model="PMP", type="regular")


def test_a_customer_message_waits_for_an_answer(log: EventLog) -> None:
    conversation = uuid4()

    fact = project([log.inbound(conversation, "m-1")]).waiting["m-1"]

    assert (fact.conversation_id, fact.received_at, fact.position) == (
        conversation,
        log.now,
        log.position,
    )


def test_a_system_notice_waits_for_no_answer_but_is_a_message(log: EventLog) -> None:
    changes = project([log.inbound(uuid4(), "m-1", kind="system", text="number changed")])

    assert changes.waiting == {}
    assert changes.messages["m-1"].type == "system"


def test_a_reply_answers_as_its_author_at_its_position(log: EventLog) -> None:
    conversation = uuid4()

    [reply] = project([log.queued(conversation, "m-2", author="agent")]).replies

    assert (reply.message_id, reply.author, reply.position, reply.at) == (
        "m-2",
        "agent",
        log.position,
        log.now,
    )


def test_an_ai_reply_keeps_its_model_tokens_and_cost(log: EventLog) -> None:
    event = log.queued(uuid4(), "m-2", model="m-1", prompt_tokens=2000, completion_tokens=1000)

    row = project([event], rates=RATES).messages["m-2"]

    assert (row.model, row.prompt_tokens, row.completion_tokens) == ("m-1", 2000, 1000)
    assert row.llm_cost == Decimal("2.5")


def test_a_new_message_starts_its_status_history(log: EventLog) -> None:
    conversation = uuid4()

    changes = project([log.inbound(conversation, "m-1"), log.queued(conversation, "m-2")])

    assert changes.messages["m-1"].status_history[0]["status"] == "received"
    assert changes.messages["m-2"].status_history == (
        {"status": "queued", "at": log.now.isoformat()},
    )


def test_status_reports_late_ones_too_append_to_the_history_in_order(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.status(conversation, "m-2", "delivered"),
            log.status(conversation, "m-2", "sent", late=True),
            log.status(conversation, "m-2", "read"),
        ]
    ).patches["m-2"]

    assert [(h["status"], h.get("late", False)) for h in patch.status_history] == [
        ("delivered", False),
        ("sent", True),
        ("read", False),
    ]
    assert patch.status == "read"


def test_a_late_status_does_not_move_the_message(log: EventLog) -> None:
    patch = project([log.status(uuid4(), "m-2", "sent", late=True)]).patches["m-2"]

    assert patch.status is None


def test_a_billable_message_is_charged_once_at_its_category_price(log: EventLog) -> None:
    conversation = uuid4()

    changes = project(
        [
            log.status(conversation, "m-2", "sent", pricing=billable("marketing")),
            log.status(conversation, "m-2", "delivered", pricing=billable("marketing")),
            log.status(conversation, "m-2", "read", late=True, pricing=billable("marketing")),
        ],
        rates=RATES,
    )

    assert list(changes.charges) == ["m-2"]
    assert changes.charges["m-2"].cost == Decimal("0.05")
    assert changes.patches["m-2"].pricing == {
        "billable": True,
        "category": "marketing",
        "pricing_model": "PMP",
        "type": "regular",
    }


def test_a_free_message_keeps_its_pricing_but_is_not_charged(log: EventLog) -> None:
    pricing = common_pb2.Pricing(billable=False, category="service", type="free_customer_service")

    changes = project([log.status(uuid4(), "m-2", "sent", pricing=pricing)], rates=RATES)

    assert changes.charges == {}
    assert changes.patches["m-2"].pricing == {
        "billable": False,
        "category": "service",
        "pricing_model": "",
        "type": "free_customer_service",
    }


def test_a_status_without_pricing_leaves_the_pricing_alone(log: EventLog) -> None:
    patch = project([log.status(uuid4(), "m-2", "sent")]).patches["m-2"]

    assert (patch.pricing, patch.metadata) == (None, {})


def test_a_failed_status_records_the_first_whatsapp_error(log: EventLog) -> None:
    event = log.status(uuid4(), "m-2", "failed")
    event.message_status_changed.errors.add(code=131026, title="Message undeliverable")

    patch = project([event]).patches["m-2"]

    assert (patch.status, patch.error_code, patch.error_title) == (
        "failed",
        131026,
        "Message undeliverable",
    )


def test_a_failed_send_records_its_error_and_history(log: EventLog) -> None:
    patch = project([log.failed(uuid4(), "m-2", code=131047)]).patches["m-2"]

    assert (patch.error_code, patch.error_title) == (131047, "Re-engagement message")
    assert patch.status_history == [{"status": "failed", "at": log.now.isoformat()}]


def test_an_edit_changes_the_target_messages_text_and_is_kept_in_its_history(
    log: EventLog,
) -> None:
    conversation = uuid4()

    changes = project(
        [
            log.changed(conversation, "e-1", kind="edit", target="m-1", text="Hi, at 5?"),
            log.changed(conversation, "e-2", kind="edit", target="m-1", text="Hi, at 6?"),
        ]
    )

    patch = changes.patches["m-1"]
    assert patch.content == "Hi, at 6?"
    assert [(e["text"], e["message_id"]) for e in patch.edits] == [
        ("Hi, at 5?", "e-1"),
        ("Hi, at 6?", "e-2"),
    ]
    assert changes.messages == {}


def test_a_revoke_marks_the_target_message_deleted(log: EventLog) -> None:
    patch = project([log.changed(uuid4(), "r-1", kind="revoke", target="m-1")]).patches["m-1"]

    assert (patch.status, patch.deleted_at) == ("deleted", log.now)
    assert patch.status_history[-1]["status"] == "deleted"


def test_reactions_land_on_the_target_and_an_empty_one_removes_it(log: EventLog) -> None:
    conversation = uuid4()

    patch = project(
        [
            log.changed(conversation, "x-1", kind="reaction", target="m-2", text="👍"),
            log.changed(conversation, "x-2", kind="reaction", target="m-2", text=""),
        ]
    ).patches["m-2"]

    assert patch.reaction == ""
    assert [r["emoji"] for r in patch.reactions] == ["👍", ""]


def test_a_change_to_a_message_never_seen_is_kept_as_a_message_of_its_kind(
    log: EventLog,
) -> None:
    conversation = uuid4()

    changes = project([log.changed(conversation, "x-1", kind="reaction", target="", text="❤️")])

    row = changes.messages["x-1"]
    assert (row.type, row.content, row.role) == ("reaction", "❤️", "user")
    assert row.metadata["target_wamid"] == "wamid.in.unknown"
    assert changes.waiting == {}
    assert changes.conversation_patches[conversation].added == 1


def test_a_reply_shows_what_it_quotes_and_a_template_its_readable_text(log: EventLog) -> None:
    conversation = uuid4()
    quoting = log.queued(
        conversation, "m-2", text="Yes, two left", quoted_message_id="m-1", quoted_wamid="wamid.1"
    )
    template = log.queued(conversation, "m-3", text="Hi Ana, your order #42 ships today.")
    template.outbound_message_queued.content.type = "template"

    changes = project([quoting, template])

    assert changes.messages["m-2"].metadata == {
        "quoted_message_id": "m-1",
        "quoted_wamid": "wamid.1",
    }
    assert changes.messages["m-2"].content == "Yes, two left"
    assert (changes.messages["m-3"].type, changes.messages["m-3"].content) == (
        "template",
        "Hi Ana, your order #42 ships today.",
    )
    assert changes.messages["m-3"].metadata == {}


def test_an_interactive_replys_buttons_are_kept_as_the_customer_sees_them(log: EventLog) -> None:
    conversation = uuid4()
    buttons = {
        "type": "button",
        "body": {"text": "Shall I book it?"},
        "action": {"buttons": [{"type": "reply", "reply": {"id": "yes", "title": "Yes"}}]},
    }
    reply = log.queued(conversation, "r-1", text="Shall I book it?")
    reply.outbound_message_queued.content.type = "interactive"
    reply.outbound_message_queued.content.payload_json = json.dumps(buttons)
    broken = log.queued(conversation, "r-2", text="?")
    broken.outbound_message_queued.content.type = "interactive"
    broken.outbound_message_queued.content.payload_json = "{not json"

    changes = project([reply, broken, log.queued(conversation, "r-3")])

    assert changes.messages["r-1"].metadata["interactive"] == buttons
    assert "interactive" not in changes.messages["r-2"].metadata
    assert "interactive" not in changes.messages["r-3"].metadata
