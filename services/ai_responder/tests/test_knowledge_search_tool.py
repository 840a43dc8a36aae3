"""The built-in `search_knowledge` tool (issue 12 item 2): a model answering from the knowledge
bases may search them again in its own words; the passages come back numbered after the ones
it was given, and the reply may cite them. A passage already given is not given again, an
empty search says so, and a search that fails is told to the model, not raised."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.ports import NO_HISTORY, AssistantModel
from threadline.ai_responder.application.responder import Responder
from threadline.ai_responder.application.tool_calls import CallTools, MemoryLedger
from threadline.ai_responder.domain.answers import Answer
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.http_tools import HttpToolRequest
from threadline.ai_responder.domain.knowledge import FoundPassage, KnowledgeAnswer, StoredPassage
from threadline.ai_responder.domain.tool_calls import ToolCalled, ToolResult
from threadline.testing.clock import FakeClock
from threadline.testing.model_servers import OpenAIServer, ToolCallAnswer

HOURS = "We are open Tuesday to Saturday, 9:00 to 19:00."
PARKING = "Free parking for customers in the garage at Rua Augusta 12."
SALON = AssistantSettings(
    name="salon", version=1, model="openai:gpt-4.1-mini", knowledge_bases=("salon",)
)


def found(*passages: tuple[int, str, str], abstained: bool = False) -> KnowledgeAnswer:
    return KnowledgeAnswer(
        passages=tuple(
            FoundPassage(n, StoredPassage("salon", document, 0, text), 0.03, 0.85)
            for n, document, text in passages
        ),
        abstained=abstained,
    )


class Knowledge:
    """Answers each question from a table (the first search is the customer's question)."""

    def __init__(self, answers: dict[str, KnowledgeAnswer | Exception]) -> None:
        self.answers, self.asked = answers, list[str]()

    async def search(
        self, knowledge_bases: Sequence[str], question: str, k: int = 3
    ) -> KnowledgeAnswer:
        self.asked.append(question)
        answer = self.answers.get(question, found(abstained=True))
        if isinstance(answer, Exception):
            raise answer
        return answer


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


class NoHttpTools:
    async def call(self, request: HttpToolRequest) -> ToolResult:
        raise AssertionError("no business's HTTP tool is called here")


class Told:
    """Where the tool calls are recorded (the session hears of them)."""

    def __init__(self) -> None:
        self.calls: list[ToolCalled] = []

    async def tool_called(self, called: ToolCalled) -> None:
        self.calls.append(called)


async def ask(
    model: AssistantModel, knowledge: Knowledge, text: str, told: Told | None = None
) -> Answer:
    tools = CallTools(
        NoHttpTools(),
        ledger=MemoryLedger(),
        environment={},
        clock=FakeClock(),
        events=told,
    )
    responder = Responder(
        model,
        clock=FakeClock(),
        stale_after=timedelta(hours=1),
        knowledge=knowledge,
        tools=tools,
    )
    message = CustomerMessage("m-1", "conv-1", "text", text, FakeClock().now)
    return await responder.answer_burst([message], history=NO_HISTORY, assistant=SALON)


def told(server: OpenAIServer, request: int) -> object:
    """What the model was told its tool call gave, in request `request`."""
    return json.loads(server.requests[request].body["messages"][-1]["content"])


async def test_the_model_searches_again_and_cites_what_its_own_search_found(
    server: OpenAIServer, model: AssistantModel
) -> None:
    question = "When are you open, and can I park?"
    knowledge = Knowledge(
        {question: found((1, "hours.md", HOURS)), "parking": found((2, "parking.md", PARKING))}
    )
    server.script(
        ToolCallAnswer("search_knowledge", {"question": "parking"}),
        ToolCallAnswer(
            "reply",
            {"kind": "text", "text": "Tue-Sat 9-19, free parking.", "sources": [1, 2]},
        ),
    )

    recorded = Told()

    answer = await ask(model, knowledge, question, recorded)

    assert knowledge.asked == [question, "parking"]
    offered = [t["function"]["name"] for t in server.requests[0].body["tools"]]
    assert "search_knowledge" in offered
    assert told(server, 1) == {
        "passages": [{"number": 2, "document": "parking.md", "text": PARKING}]
    }
    assert answer.draft is not None
    assert [c.document for c in answer.draft.citations] == ["hours.md", "parking.md"]
    # Recorded on the conversation as the business's tools' calls are.
    (call,) = recorded.calls
    assert (call.tool, call.arguments_json, call.result.status) == (
        *("search_knowledge", '{"question":"parking"}', "ok"),
    )
    assert json.loads(call.result.body)["passages"][0]["document"] == "parking.md"


async def test_a_passage_given_already_an_empty_search_and_a_failing_one_are_told_as_such(
    server: OpenAIServer, model: AssistantModel
) -> None:
    question = "When are you open?"
    knowledge = Knowledge(
        {
            question: found((1, "hours.md", HOURS)),
            "opening hours": found((1, "hours.md", HOURS)),
            "broken": ConnectionError("the database is down"),
        }
    )
    server.script(
        ToolCallAnswer("search_knowledge", {"question": "opening hours"}),
        ToolCallAnswer("search_knowledge", {"question": "tattoos"}),
        ToolCallAnswer("search_knowledge", {"question": "broken"}),
        ToolCallAnswer("reply", {"kind": "text", "text": "Tue-Sat.", "sources": [1, 2]}),
    )

    answer = await ask(model, knowledge, question)

    assert told(server, 1) == {"passages": [], "note": "only passages you were already given"}
    assert told(server, 2) == {"passages": [], "note": "nothing relevant enough was found"}
    assert told(server, 3) == {"error": "the knowledge base cannot be searched now"}
    assert answer.draft is not None
    assert [c.document for c in answer.draft.citations] == ["hours.md"]  # 2 was never given


async def test_an_assistant_without_knowledge_bases_is_not_offered_the_search(
    server: OpenAIServer, model: AssistantModel
) -> None:
    server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Hi!"}))
    responder = Responder(
        model, clock=FakeClock(), stale_after=timedelta(hours=1), knowledge=Knowledge({})
    )
    message = CustomerMessage("m-1", "conv-1", "text", "hi", FakeClock().now)
    plain = AssistantSettings(name="plain", version=1, model="openai:gpt-4.1-mini")

    await responder.answer_burst([message], history=NO_HISTORY, assistant=plain)

    offered = [t["function"]["name"] for t in server.requests[0].body["tools"]]
    assert "search_knowledge" not in offered
