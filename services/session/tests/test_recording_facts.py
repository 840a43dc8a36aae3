from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from threadline.session.application.conversations import Conversations
from threadline.session.application.facts import (
    DispatchReport,
    DraftedReply,
    InboundMessage,
    StatusReport,
)
from threadline.session.application.outcomes import APPLIED, Ignored, Rejected
from threadline.session.application.views import ConversationView
from threadline.session.domain.contact import Contact
from threadline.session.domain.identity import contact_id, drafted_message_id
from threadline.session.domain.message_state import MessageState
from threadline.testing.clock import FakeClock

InboundFactory = Callable[..., InboundMessage]


def conversation_of(app: Conversations, phone_number_id: str, wa_id: str) -> ConversationView:
    contact = app.repository.get(contact_id(phone_number_id, wa_id, ""))
    assert isinstance(contact, Contact) and contact.open_conversation_id is not None
    return app.find_conversation(contact.open_conversation_id)


def draft_for(conversation: ConversationView, text: str = "Hi!") -> DraftedReply:
    return DraftedReply(
        draft_id=f"d-{uuid4().hex}",
        conversation_id=conversation.id,
        in_reply_to_message_id="",
        content={"type": "text", "text": text},
    )


def test_first_customer_message_opens_a_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    fact = inbound(wa_id="15550001")

    outcomes = app.record_facts([fact])

    conversation = conversation_of(app, "pn-1", "15550001")
    assert outcomes == [APPLIED]
    assert conversation.session_key == "whatsapp_+15550001"
    assert conversation.knows(fact.wamid)


def test_later_messages_continue_the_open_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="15550002")])
    first = conversation_of(app, "pn-1", "15550002").id

    app.record_facts([inbound(wa_id="15550002"), inbound(wa_id="15550002")])

    conversation = conversation_of(app, "pn-1", "15550002")
    assert conversation.id == first
    assert len(conversation.messages) == 3


def test_two_first_messages_in_one_batch_open_one_conversation(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="15550003"), inbound(wa_id="15550003")])

    contact = app.repository.get(contact_id("pn-1", "15550003", ""))

    assert isinstance(contact, Contact) and len(contact.conversation_ids) == 1


def test_a_redelivered_inbound_message_changes_nothing(
    app: Conversations, inbound: InboundFactory
) -> None:
    fact = inbound(wa_id="15550004")
    app.record_facts([fact])
    version = conversation_of(app, "pn-1", "15550004").version

    app.record_facts([fact])

    assert conversation_of(app, "pn-1", "15550004").version == version


def test_a_draft_is_queued_once_however_often_it_arrives(
    app: Conversations, inbound: InboundFactory
) -> None:
    app.record_facts([inbound(wa_id="15550005")])
    draft = draft_for(conversation_of(app, "pn-1", "15550005"))

    app.record_facts([draft, draft])

    conversation = conversation_of(app, "pn-1", "15550005")
    state = conversation.messages[str(drafted_message_id(draft.draft_id))]
    assert state == MessageState(direction="out", wamid="", status="queued")
    assert len(conversation.messages) == 2


def test_a_draft_outside_the_window_is_rejected_with_the_reason(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    app.record_facts([inbound(wa_id="15550006")])
    clock.advance(timedelta(hours=24, seconds=1))

    outcomes = app.record_facts([draft_for(conversation_of(app, "pn-1", "15550006"))])

    assert isinstance(outcomes[0], Rejected)
    assert "24-hour customer service window closed" in outcomes[0].reason


def test_late_statuses_are_recorded_but_never_move_a_message_back(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    app.record_facts([inbound(wa_id="15550007")])
    conversation = conversation_of(app, "pn-1", "15550007")
    draft = draft_for(conversation)
    message_id = drafted_message_id(draft.draft_id)
    app.record_facts(
        [
            draft,
            DispatchReport(
                message_id=message_id, conversation_id=conversation.id, wamid="wamid.out7"
            ),
        ]
    )

    def status(name: str) -> StatusReport:
        return StatusReport(
            wamid="wamid.out7",
            phone_number_id="pn-1",
            status=name,
            recipient_wa_id="15550007",
            recipient_user_id="",
            reported_at=clock.now,
        )

    outcomes = app.record_facts(
        [status("read"), status("delivered"), status("sent"), status("delivered")]
    )

    final = conversation_of(app, "pn-1", "15550007").messages[str(message_id)]
    assert outcomes[:3] == [APPLIED, APPLIED, APPLIED]  # late ones are recorded…
    assert isinstance(outcomes[3], Ignored)  # …once
    assert final.status == "read"  # …and never move the message back


def test_a_status_for_a_message_not_sent_from_here_is_ignored_with_the_reason(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    app.record_facts([inbound(wa_id="15550008")])

    outcomes = app.record_facts(
        [
            StatusReport(
                wamid="wamid.unknown",
                phone_number_id="pn-1",
                status="sent",
                recipient_wa_id="15550008",
                recipient_user_id="",
                reported_at=clock.now,
            )
        ]
    )

    assert isinstance(outcomes[0], Ignored)
    assert "wamid.unknown, not a message sent from here" in outcomes[0].reason


def test_one_poison_fact_does_not_block_the_rest_of_its_batch(
    app: Conversations, inbound: InboundFactory
) -> None:
    good = inbound(wa_id="15550009")
    poison = DraftedReply(
        draft_id="d-x",
        conversation_id=uuid4(),
        in_reply_to_message_id="",
        content={"type": "text", "text": "orphan"},
    )

    outcomes = app.record_facts([poison, good])

    assert isinstance(outcomes[0], Rejected) and "was not found" in outcomes[0].reason
    assert outcomes[1] == APPLIED
    assert conversation_of(app, "pn-1", "15550009").knows(good.wamid)


def test_a_status_that_overtakes_its_dispatch_result_is_applied_when_the_wamid_is_known(
    app: Conversations, inbound: InboundFactory, clock: FakeClock
) -> None:
    app.record_facts([inbound(wa_id="15550010")])
    conversation = conversation_of(app, "pn-1", "15550010")
    draft = draft_for(conversation)
    message_id = drafted_message_id(draft.draft_id)
    app.record_facts([draft])
    early = StatusReport(
        wamid="wamid.out10",
        phone_number_id="pn-1",
        status="delivered",
        recipient_wa_id="15550010",
        recipient_user_id="",
        reported_at=clock.now,
    )

    held = app.record_facts([early])
    app.record_facts(
        [
            DispatchReport(
                message_id=message_id, conversation_id=conversation.id, wamid="wamid.out10"
            )
        ]
    )

    final = conversation_of(app, "pn-1", "15550010")
    assert held == [APPLIED]
    assert final.messages[str(message_id)].status == "delivered"
    assert final.early_statuses == {}
