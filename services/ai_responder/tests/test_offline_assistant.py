"""The offline assistant (issue 12 item 4): `model: offline` names it; with knowledge bases it
answers with the best passage (one in the customer's language when it is as good) and its
source, its fixed sentences in the customer's language (en, pt, es, de, ar; else the
assistant's); when the search abstained but passages came close it offers them as a WhatsApp
list whose rows, tapped, bring that passage's answer (the last, a person); else it does not know
and hands off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from threadline.ai_responder.adapters.outbound.models import OfflineAssistantModel, model_for
from threadline.ai_responder.adapters.outbound.models.offline import DO_NOT_KNOW_REASON
from threadline.ai_responder.adapters.outbound.models.offline_language import (
    PHRASES,
    guess_language,
    is_greeting,
    is_thanks,
)
from threadline.ai_responder.application.ports import NO_HISTORY
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.config import AiResponderConfig
from threadline.ai_responder.domain.answers import HAND_OFF_REASON, Answer
from threadline.ai_responder.domain.citations import Grounding
from threadline.ai_responder.domain.customer_message import Choice, CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.knowledge import FoundPassage, KnowledgeAnswer, StoredPassage
from threadline.ai_responder.domain.reply_format import ListReply, TextReply
from threadline.rules import whatsapp_limits as limits
from threadline.servicekit.config import ConfigError
from threadline.testing.clock import FakeClock

HOURS_EN = "# Opening hours\n\nWe are open Monday to Saturday, from 9:00 to 19:00."
HOURS_PT = "# Horário de funcionamento\n\nAbrimos de segunda a sábado, das 9h às 19h."
PRICES_PT = "# Preços\n\nO corte de cabelo custa $40 e demora cerca de 45 minutos."
# As the knowledge base keeps a Markdown document: its heading a line of its own.
CANCEL_PT = (
    "Cancelar uma marcação que já não lhe convém por qualquer razão\n\n"
    "Pode cancelar ou alterar a sua marcação sem custos até 24 horas antes, aqui no WhatsApp, "
    "com a referência da marcação."
)
SALON = AssistantSettings(
    name="salon",
    version=1,
    model="offline",
    system_prompt="You are Lina's salon assistant.",
    knowledge_bases=("salon",),
)


def passage(n: int, document: str, text: str, similarity: float) -> FoundPassage:
    return FoundPassage(
        passage_id=n,
        passage=StoredPassage("salon", document, 0, text),
        score=0.03 - n / 1000,
        similarity=similarity,
    )


class FakeKnowledge:
    def __init__(self, answer: KnowledgeAnswer) -> None:
        self.answer = answer

    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer:
        return self.answer


def message(text: str, choice: Choice | None = None) -> CustomerMessage:
    return CustomerMessage(
        message_id="m-1",
        conversation_id="conv-1",
        type="interactive" if choice else "text",
        text=choice.as_text() if choice else text,
        sent_at=FakeClock().now,
        choice=choice,
    )


async def answer(
    found: KnowledgeAnswer, said: CustomerMessage, assistant: AssistantSettings = SALON
) -> Answer:
    responder = Responder(
        model_for("offline", {}),
        clock=FakeClock(),
        stale_after=timedelta(hours=1),
        knowledge=FakeKnowledge(found),
    )
    return await responder.answer_burst([said], history=NO_HISTORY, assistant=assistant)


def text_of(result: Answer) -> str:
    assert result.draft is not None and isinstance(result.draft.reply, TextReply)
    return result.draft.reply.text


def test_the_bare_name_offline_is_the_offline_assistant() -> None:
    model = model_for("offline", {})

    assert isinstance(model, OfflineAssistantModel)
    assert model.name == "offline:threadline-offline-1"
    assert AiResponderConfig.from_env({"THREADLINE_AI_MODEL": "offline"}).model == "offline"
    with pytest.raises(ConfigError, match="or offline"):
        AiResponderConfig.from_env({"THREADLINE_AI_MODEL": "offlinex"})


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Qual é o horário de funcionamento?", "pt"),
        ("Vocês vendem bicicletas?", "pt"),
        ("What are your opening hours?", "en"),
        ("¿Cuál es el horario?", "es"),
        ("Wann habt ihr geöffnet?", "de"),
        ("ما هي ساعات العمل؟", "ar"),
        ("ok", ""),
        ("12:30", ""),
    ],
)
def test_the_language_of_a_message_is_guessed_cheaply(text: str, language: str) -> None:
    assert guess_language(text) == language


async def test_a_portuguese_question_gets_the_portuguese_passage_and_its_source() -> None:
    # The English passage ranks first, the Portuguese one is about as similar.
    found = KnowledgeAnswer(
        (
            passage(1, "opening-hours.md", HOURS_EN, 0.885),
            passage(2, "horario.md", HOURS_PT, 0.872),
        ),
        abstained=False,
    )

    result = await answer(found, message("Qual é o horário de funcionamento?"))

    assert text_of(result) == (
        "*Horário de funcionamento*\n\nAbrimos de segunda a sábado, das 9h às 19h."
        "\n\nFonte: horario.md"
    )
    assert result.draft is not None and [c.document for c in result.draft.citations] == [
        "horario.md"
    ]
    assert result.hand_off is None


async def test_a_passage_much_better_than_one_in_the_customers_language_wins() -> None:
    found = KnowledgeAnswer(
        (
            passage(1, "opening-hours.md", HOURS_EN, 0.90),
            passage(2, "horario.md", HOURS_PT, 0.80),
        ),
        abstained=False,
    )

    result = await answer(found, message("Qual é o horário de funcionamento?"))

    # "Source" follows the passage shown.
    assert text_of(result).endswith("\n\nSource: opening-hours.md")


@pytest.mark.parametrize(
    ("asked", "language"),
    [
        ("Vocês consertam bicicletas?", "pt"),
        ("Do you repair bikes?", "en"),
        ("¿Reparan bicicletas?", "es"),
        ("Repariert ihr Fahrräder?", "de"),
        ("هل تصلحون الدراجات؟", "ar"),
    ],
)
async def test_nothing_close_is_i_do_not_know_in_the_customers_language_and_a_hand_off(
    asked: str, language: str
) -> None:
    found = KnowledgeAnswer((passage(1, "precos.md", PRICES_PT, 0.70),), abstained=True)

    result = await answer(found, message(asked))

    assert text_of(result) == PHRASES[language].do_not_know
    assert result.hand_off is not None and result.hand_off.reason == DO_NOT_KNOW_REASON


async def test_a_message_that_says_no_language_is_answered_in_the_assistants() -> None:
    found = KnowledgeAnswer((), abstained=True)
    spanish = AssistantSettings(
        name="salon", version=1, model="offline", system_prompt="x", language="es_ES",
        knowledge_bases=("salon",),
    )  # fmt: skip

    result = await answer(found, message("ok"), spanish)

    assert text_of(result) == PHRASES["es"].do_not_know


async def test_passages_close_to_an_answer_are_offered_as_a_list_in_the_customers_language() -> (
    None
):
    near = (
        passage(7, "horario.md", HOURS_PT, 0.77),
        passage(8, "opening-hours.md", HOURS_EN, 0.765),
        passage(9, "cancelamento.md", CANCEL_PT, 0.75),
    )
    found = KnowledgeAnswer(near, abstained=True, near=near)

    result = await answer(found, message("Oi, vocês abrem quando?"))

    assert result.hand_off is None and result.draft is not None
    reply = result.draft.reply
    assert isinstance(reply, ListReply)
    assert reply.body == PHRASES["pt"].closest and reply.button == PHRASES["pt"].closest_button
    assert [row.id for row in reply.rows] == ["kb:7", "kb:9", "kb:person"]
    assert reply.rows[-1].title == PHRASES["pt"].person_row
    assert reply.rows[1].title == "Cancelar uma marcação…"
    assert reply.rows[1].description.startswith("Pode cancelar ou alterar a sua marcação")
    assert reply.rows[0].title == "Horário de funcionamento"
    assert reply.rows[0].description == "Abrimos de segunda a sábado, das 9h às 19h."
    assert all(len(row.title) <= limits.ROW_TITLE for row in reply.rows)
    assert all(len(row.description) <= limits.ROW_DESCRIPTION for row in reply.rows)
    assert result.draft.citations == ()


async def test_a_tapped_row_brings_that_passages_answer() -> None:
    near = (
        passage(9, "cancelamento.md", CANCEL_PT, 0.77),
        passage(7, "horario.md", HOURS_PT, 0.76),
    )
    # The search for the tapped row's words still abstains; the tapped passage is among them.
    found = KnowledgeAnswer(near, abstained=True, near=near)
    tapped = Choice(id="kb:7", title="Horário de funcionamento", description="Abrimos de…")

    result = await answer(found, message("", tapped))

    assert text_of(result).startswith("*Horário de funcionamento*")
    assert text_of(result).endswith("Fonte: horario.md")
    assert result.hand_off is None


def test_an_abstaining_search_keeps_its_near_passages_as_the_closest() -> None:
    near = (passage(7, "horario.md", HOURS_PT, 0.77),)
    grounding = Grounding.of(KnowledgeAnswer(near, abstained=True, near=near))

    assert grounding.abstained and grounding.passages == ()
    assert [given.document for given in grounding.closest] == ["horario.md"]
    answered = Grounding.of(KnowledgeAnswer(near, abstained=False, near=near))
    assert answered.closest == () and len(answered.passages) == 1


async def test_the_person_row_tapped_hands_off() -> None:
    found = KnowledgeAnswer((), abstained=True)
    tapped = Choice(id="kb:person", title=PHRASES["de"].person_row)

    result = await answer(found, message("", tapped))

    assert text_of(result) == PHRASES["de"].person
    assert result.hand_off is not None and result.hand_off.reason == HAND_OFF_REASON


@pytest.mark.parametrize(
    ("said", "greets", "thanks"),
    [
        ("Oi", True, False),
        ("Bom dia!", True, False),
        ("hello there", True, False),
        ("Oi Lina", True, False),
        ("Hola, buenas tardes", True, False),
        ("مرحبا", True, False),
        ("Obrigada!", False, True),
        ("thanks a lot", False, True),
        ("Vielen Dank", False, True),
        ("muito bom", False, False),
        ("Lina", False, False),
        ("Oi, vocês abrem quando?", False, False),
        ("hi, is it 40 euros?", False, False),
    ],
)
def test_a_message_that_only_greets_or_only_thanks_is_told_apart(
    said: str, greets: bool, thanks: bool
) -> None:
    assert (is_greeting(said), is_thanks(said)) == (greets, thanks)


async def test_a_greeting_is_greeted_back_above_what_the_knowledge_base_can_answer() -> None:
    # "Oi" finds something, as any text does: the offline model does not answer it with it.
    found = KnowledgeAnswer(
        (passage(9, "cancelamento.md", CANCEL_PT, 0.79), passage(7, "horario.md", HOURS_PT, 0.785)),
        abstained=False,
    )

    result = await answer(found, message("Oi"))

    assert result.hand_off is None and result.draft is not None
    reply = result.draft.reply
    assert isinstance(reply, ListReply)
    assert reply.body == PHRASES["pt"].greeting
    assert [row.id for row in reply.rows] == ["kb:9", "kb:7", "kb:person"]
    assert result.draft.citations == ()


async def test_a_greeting_with_nothing_found_is_a_plain_hello_and_thanks_a_welcome() -> None:
    nothing = KnowledgeAnswer((), abstained=True)

    hello = await answer(nothing, message("Hello!"))
    thanks = await answer(nothing, message("Obrigada!"))

    assert text_of(hello) == "Hello! How can I help?"
    assert hello.hand_off is None
    assert text_of(thanks) == PHRASES["pt"].welcome and thanks.hand_off is None
