"""The knowledge search's question rewritten from the conversation (issue 12 item 1): a real
model (a local OpenAI-protocol server) turns "and on Sundays?" after a question on opening hours
into a standalone question, which is what the knowledge bases are searched with; its tokens
count in the reply's. The offline model, a first message, and a model that fails or gives no
question leave the question joined from the customer's turns."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.adapters.outbound.models.offline import OfflineAssistantModel
from threadline.ai_responder.application.grounding import rewritten_question
from threadline.ai_responder.application.ports import (
    ASSISTANT,
    CUSTOMER,
    AssistantModel,
    History,
    SaidTurn,
    Turn,
)
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.domain.answers import NO_USAGE
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.knowledge import KnowledgeAnswer
from threadline.testing.clock import FakeClock
from threadline.testing.model_servers import ErrorAnswer, OpenAIServer, ToolCallAnswer

STANDALONE = "What are the salon's opening hours on Sundays?"
BEFORE = History(
    turns=(
        SaidTurn("m-1", Turn(CUSTOMER, "What time do you open on Saturday?")),
        SaidTurn("d-1", Turn(ASSISTANT, "On Saturdays we open from 9:00 to 19:00.")),
    )
)
SALON = AssistantSettings(
    name="salon", version=1, model="openai:gpt-4.1-mini", knowledge_bases=("salon-faq",)
)


def asking(text: str, message_id: str = "m-2") -> CustomerMessage:
    return CustomerMessage(message_id, "conv-1", "text", text, FakeClock().now)


@pytest.fixture
async def server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as running:
        yield running


@pytest.fixture
async def model(server: OpenAIServer) -> AsyncIterator[AssistantModel]:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    built = model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 0))
    yield built
    await built.close()


class Asked:
    def __init__(self) -> None:
        self.questions: list[str] = []

    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer:
        self.questions.append(question)
        return KnowledgeAnswer(passages=(), abstained=True)


async def test_the_model_rewrites_a_follow_up_into_a_standalone_question(
    server: OpenAIServer, model: AssistantModel
) -> None:
    server.script(ToolCallAnswer("search", {"question": STANDALONE}, input_tokens=50))

    question, usage = await rewritten_question(model, [asking("and on Sundays?")], BEFORE)

    assert question == STANDALONE
    assert usage.input_tokens == 50
    (request,) = server.requests
    said = [m["content"] for m in request.body["messages"] if m["role"] != "system"]
    assert said == [
        "What time do you open on Saturday?",
        "On Saturdays we open from 9:00 to 19:00.",
        "and on Sundays?",
    ]
    assert [t["function"]["name"] for t in request.body["tools"]] == ["search"]


async def test_the_rewritten_question_is_searched_and_its_tokens_count_in_the_reply(
    server: OpenAIServer, model: AssistantModel
) -> None:
    server.script(
        ToolCallAnswer("search", {"question": STANDALONE}, input_tokens=50, output_tokens=9),
        ToolCallAnswer("reply", {"kind": "text", "text": "We are closed on Sundays."}),
    )
    knowledge = Asked()
    responder = Responder(
        model, clock=FakeClock(), stale_after=timedelta(hours=1), knowledge=knowledge
    )

    answer = await responder.answer_burst(
        [asking("and on Sundays?")], history=BEFORE, assistant=SALON
    )

    assert knowledge.questions == [STANDALONE]
    assert answer.draft is not None
    assert answer.draft.usage.input_tokens == 50 + 12  # the rewrite's and the reply's
    assert answer.draft.usage.output_tokens == 9 + 7


async def test_without_a_conversation_before_or_with_the_offline_model_nothing_is_asked(
    server: OpenAIServer, model: AssistantModel
) -> None:
    first = await rewritten_question(model, [asking("When do you open?", "m-1")], History())
    offline = await rewritten_question(OfflineAssistantModel(), [asking("and on Sundays?")], BEFORE)

    assert first == ("When do you open?", NO_USAGE)
    assert offline == ("What time do you open on Saturday? and on Sundays?", NO_USAGE)
    assert server.requests == []


async def test_a_model_that_fails_or_gives_no_question_leaves_the_joined_question(
    server: OpenAIServer, model: AssistantModel
) -> None:
    server.script(ErrorAnswer(400, "bad request"), ToolCallAnswer("search", {"question": " "}))

    failed, _ = await rewritten_question(model, [asking("and on Sundays?")], BEFORE)
    empty, _ = await rewritten_question(model, [asking("and on Sundays?")], BEFORE)

    assert failed == empty == "What time do you open on Saturday? and on Sundays?"
