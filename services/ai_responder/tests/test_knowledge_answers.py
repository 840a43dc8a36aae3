"""Answering from the knowledge bases (issue 12 item 1): an assistant with knowledge bases has
them searched with the burst's question (a fake `Knowledge`); the model (a local OpenAI-protocol
server, and the offline model) is given the passages, numbered, with their documents; the draft
cites only passages it was given; when the search abstains the model is told there is nothing to
answer from, and the offline model says it does not know and hands off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import pytest

from threadline.ai_responder.adapters.integration_events import reply_drafted
from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.models.offline import DO_NOT_KNOW_REASON
from threadline.ai_responder.adapters.outbound.models.offline_language import PHRASES
from threadline.ai_responder.application.grounding import KnowledgeSearch, question_for
from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    NO_HISTORY,
    AssistantModel,
    History,
    SaidTurn,
    Turn,
)
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.domain.answers import Answer
from threadline.ai_responder.domain.citations import SNIPPET_LIMIT
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.knowledge import FoundPassage, KnowledgeAnswer, StoredPassage
from threadline.ai_responder.domain.reply_format import TextReply
from threadline.rules import whatsapp_limits as limits
from threadline.testing.clock import FakeClock
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

HOURS = (
    "Lina's Hair Salon is open Tuesday to Saturday, 9:00 to 19:00. "
    "We are closed on Sundays and Mondays."
)
PRICES = "A women's cut costs 45 EUR, a men's cut 25 EUR, colour from 60 EUR."


def found(*texts: tuple[str, str], abstained: bool = False) -> KnowledgeAnswer:
    return KnowledgeAnswer(
        passages=tuple(
            FoundPassage(
                passage_id=100 + n,
                passage=StoredPassage("salon-faq", document, 0, text),
                score=0.03 - n / 1000,
                similarity=0.9 - n / 100,
            )
            for n, (document, text) in enumerate(texts)
        ),
        abstained=abstained,
    )


class FakeKnowledge:
    """The knowledge bases' search, answering what it is given, recording what it is asked."""

    def __init__(self, answer: KnowledgeAnswer) -> None:
        self.answer = answer
        self.asked: list[tuple[tuple[str, ...], str, int]] = []

    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer:
        self.asked.append((tuple(knowledge_bases), question, k))
        return self.answer


class BrokenKnowledge:
    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer:
        raise ConnectionError("the database is down")


SALON = AssistantSettings(
    name="salon",
    version=1,
    model="openai:gpt-4.1-mini",
    system_prompt="You are Lina's salon assistant.",
)
SALON_KB = AssistantSettings(
    name="salon",
    version=1,
    model="openai:gpt-4.1-mini",
    system_prompt="You are Lina's salon assistant.",
    knowledge_bases=("salon-faq",),
)


def asking(text: str, message_id: str = "m-1") -> CustomerMessage:
    return CustomerMessage(
        message_id=message_id,
        conversation_id="conv-1",
        type="text",
        text=text,
        sent_at=FakeClock().now,
        customer_name="Ana Souza",
    )


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


def openai_model(server: OpenAIServer) -> AssistantModel:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    return model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 2))


async def answer(
    model: AssistantModel,
    knowledge: KnowledgeSearch,
    text: str = "A que horas vocês abrem no sábado?",
    *,
    assistant: AssistantSettings = SALON_KB,
    history: History = NO_HISTORY,
) -> Answer:
    responder = Responder(
        model,
        clock=FakeClock(),
        stale_after=timedelta(hours=1),
        knowledge=knowledge,
    )
    try:
        return await responder.answer_burst([asking(text)], history=history, assistant=assistant)
    finally:
        await model.close()


def sent(server: OpenAIServer) -> tuple[str, dict[str, Any]]:
    """The system prompt and the `reply` tool the model was sent."""
    body = server.requests[0].body
    system = next(m["content"] for m in body["messages"] if m["role"] == "system")
    reply = next(t["function"] for t in body["tools"] if t["function"]["name"] == "reply")
    return system, reply


async def test_the_model_gets_the_passages_numbered_and_its_sources_become_citations(
    openai_server: OpenAIServer,
) -> None:
    knowledge = FakeKnowledge(found(("opening-hours.md", HOURS), ("prices.md", PRICES)))
    openai_server.script(
        ToolCallAnswer(
            "reply",
            {"kind": "text", "text": "Sábado abrimos das 9h às 19h.", "sources": [1, 7, "1"]},
        )
    )

    result = await answer(openai_model(openai_server), knowledge)

    assert knowledge.asked == [(("salon-faq",), "A que horas vocês abrem no sábado?", 3)]
    system, reply = sent(openai_server)
    assert f"[1] (from opening-hours.md) {HOURS}" in system
    assert f"[2] (from prices.md) {PRICES}" in system
    assert "never make an answer up" in system
    assert "sources" in reply["parameters"]["properties"]
    assert "sources" in reply["parameters"]["required"]
    draft = result.draft
    assert draft is not None and result.hand_off is None
    # 7 was never given and "1" again is the same passage: one citation, the one given.
    assert [(c.passage_id, c.document, c.knowledge_base) for c in draft.citations] == [
        ("100", "opening-hours.md", "salon-faq")
    ]
    assert draft.citations[0].snippet == HOURS
    assert draft.citations[0].score == pytest.approx(0.9)
    event = reply_drafted(draft)
    assert [(c.passage_id, c.document) for c in event.citations] == [("100", "opening-hours.md")]


async def test_a_reply_without_sources_cites_nothing(openai_server: OpenAIServer) -> None:
    knowledge = FakeKnowledge(found(("opening-hours.md", HOURS)))
    openai_server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Olá!"}))

    result = await answer(openai_model(openai_server), knowledge, "Olá")

    assert result.draft is not None and result.draft.citations == ()


async def test_when_the_search_abstains_the_model_is_told_not_to_invent(
    openai_server: OpenAIServer,
) -> None:
    knowledge = FakeKnowledge(found(("prices.md", PRICES), abstained=True))
    openai_server.script(
        ToolCallAnswer("reply", {"kind": "text", "text": "Não sei.", "sources": [1]})
    )

    result = await answer(openai_model(openai_server), knowledge, "Vocês vendem bicicletas?")

    system, reply = sent(openai_server)
    assert "has no passage relevant to the customer's question" in system
    assert PRICES not in system  # the passages below the threshold are not given
    assert "do not make an answer up" in reply["description"]
    assert "sources" not in reply["parameters"]["properties"]
    # Nothing was given, so nothing can be cited, whatever the model says.
    assert result.draft is not None and result.draft.citations == ()


async def test_a_failing_search_is_an_abstention(openai_server: OpenAIServer) -> None:
    openai_server.script(ToolCallAnswer("hand_off", {"reason": "no answer in the FAQ"}))

    result = await answer(openai_model(openai_server), BrokenKnowledge())

    system, _ = sent(openai_server)
    assert "has no passage relevant" in system
    assert result.hand_off is not None and result.draft is None


async def test_an_assistant_without_knowledge_bases_is_asked_as_before(
    openai_server: OpenAIServer,
) -> None:
    knowledge = FakeKnowledge(found(("opening-hours.md", HOURS)))
    openai_server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Hi", "sources": [1]}))

    result = await answer(openai_model(openai_server), knowledge, assistant=SALON)

    system, reply = sent(openai_server)
    assert knowledge.asked == []
    assert "knowledge base" not in system and "sources" not in reply["parameters"]["properties"]
    assert result.draft is not None and result.draft.citations == ()


async def test_the_offline_assistant_answers_with_the_best_passage_and_its_source() -> None:
    knowledge = FakeKnowledge(found(("opening-hours.md", HOURS), ("prices.md", PRICES)))

    result = await answer(model_for("offline:faq", {}), knowledge)

    draft = result.draft
    assert draft is not None and result.hand_off is None
    assert draft.reply == TextReply(f"{HOURS}\n\nSource: opening-hours.md")
    assert [c.document for c in draft.citations] == ["opening-hours.md"]


async def test_the_offline_answer_is_bounded_to_whatsapps_text_limit() -> None:
    long = " ".join(["The salon opens at nine."] * 400)
    knowledge = FakeKnowledge(found(("opening-hours.md", long)))

    result = await answer(model_for("offline:faq", {}), knowledge)

    draft = result.draft
    assert draft is not None and isinstance(draft.reply, TextReply)
    assert len(draft.reply.text) <= limits.TEXT_BODY
    assert draft.reply.text.endswith("\n\nSource: opening-hours.md")
    assert len(draft.citations[0].snippet) <= SNIPPET_LIMIT


async def test_the_offline_assistant_abstaining_says_it_does_not_know_and_hands_off() -> None:
    knowledge = FakeKnowledge(found(("prices.md", PRICES), abstained=True))

    result = await answer(model_for("offline:faq", {}), knowledge, "Vocês vendem bicicletas?")

    assert result.draft is not None and isinstance(result.draft.reply, TextReply)
    # In the customer's language (test_offline_assistant.py: the others).
    assert result.draft.reply.text == PHRASES["pt"].do_not_know
    assert result.draft.citations == ()
    assert result.hand_off is not None and result.hand_off.reason == DO_NOT_KNOW_REASON


async def test_the_offline_assistant_without_knowledge_bases_is_as_before() -> None:
    result = await answer(model_for("offline:faq", {}), FakeKnowledge(found()), assistant=SALON)

    assert result.draft is not None and result.draft.reply == TextReply(PHRASES["pt"].offline)


def said(message_id: str, role: str, text: str) -> SaidTurn:
    return SaidTurn(message_id, Turn(role, text))  # type: ignore[arg-type]


def test_a_short_question_leans_on_the_customers_previous_turns() -> None:
    history = History(
        turns=(
            said("m-0", CUSTOMER, "What time do you open on Saturday?"),
            said("r-0", ASSISTANT, "From 9:00."),
            said("m-1", CUSTOMER, "and Sunday?"),
        )
    )

    assert question_for([asking("and Sunday?")], history) == (
        "What time do you open on Saturday? and Sunday?"
    )
    long = "Do you colour hair with organic products at the salon on Rua Augusta?"
    assert question_for([asking(long)], history) == long
    assert len(question_for([asking("x " * 2000)], NO_HISTORY)) <= 1000
