from __future__ import annotations

from datetime import datetime, timedelta

from threadline.ai_responder.adapters.outbound.offline_model import OfflineModel
from threadline.ai_responder.application.ports import Prompt
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.testing.clock import FakeClock


def customer_message(text: str, *, sent_at: datetime, kind: str = "text") -> CustomerMessage:
    return CustomerMessage(
        message_id="m-1",
        conversation_id="conv-1",
        type=kind,
        text=text,
        sent_at=sent_at,
        customer_name="Ana Souza",
    )


def responder(clock: FakeClock) -> Responder:
    return Responder(OfflineModel(), clock=clock, stale_after=timedelta(hours=1))


def test_a_greeting_is_answered_with_a_greeting_by_first_name() -> None:
    completion = OfflineModel().complete(Prompt("Ana Souza", "text", "hello!"))

    assert completion.text.startswith("Hi Ana! Thanks for writing to us.")


def test_anything_else_gets_an_acknowledgement() -> None:
    completion = OfflineModel().complete(Prompt("Ana", "text", "where is my order?"))

    assert "received your message" in completion.text


def test_a_picture_is_acknowledged_by_its_kind() -> None:
    completion = OfflineModel().complete(Prompt("", "image", ""))

    assert completion.text == "Thanks, there. We received your image."


def test_the_draft_id_derives_from_the_message_answered() -> None:
    clock = FakeClock()

    draft = responder(clock).draft(customer_message("hi", sent_at=clock.now))

    assert draft is not None
    assert (draft.draft_id, draft.conversation_id, draft.in_reply_to_message_id) == (
        "draft-m-1",
        "conv-1",
        "m-1",
    )


def test_a_stale_message_is_not_answered() -> None:
    clock = FakeClock()

    draft = responder(clock).draft(
        customer_message("hi", sent_at=clock.now - timedelta(hours=1, seconds=1))
    )

    assert draft is None


def test_a_customer_asking_for_a_person_is_handed_off() -> None:
    clock = FakeClock()

    request = responder(clock).hand_off(
        customer_message("Can I talk to a human please?", sent_at=clock.now)
    )

    assert request is not None and request.conversation_id == "conv-1"


def test_an_ordinary_question_is_not_handed_off() -> None:
    clock = FakeClock()

    assert responder(clock).hand_off(customer_message("Opening hours?", sent_at=clock.now)) is None


def test_the_offline_model_reports_its_name_and_token_counts() -> None:
    completion = OfflineModel().complete(Prompt("Ana", "text", "one two three"))

    assert completion.model == "threadline-offline-1"
    assert completion.prompt_tokens == 3 and completion.completion_tokens > 0
    # No clock, no randomness: asked again, it answers exactly the same.
    assert OfflineModel().complete(Prompt("Ana", "text", "one two three")) == completion
