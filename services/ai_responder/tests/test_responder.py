"""The responder drafts through the assistant's model: the real SDK adapters against local
OpenAI / Anthropic protocol servers, and the offline model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from threadline.ai_responder.adapters.outbound.models import ModelSettings, model_for
from threadline.ai_responder.application.model_request import DEFAULT_SYSTEM_PROMPT
from threadline.ai_responder.application.ports import (
    AssistantModel,
    ModelAnswer,
    ModelRequest,
    ToolCall,
)
from threadline.ai_responder.application.responder import (
    KEYWORD_MODEL,
    Responder,
)
from threadline.ai_responder.domain.answers import (
    DiscardedGeneration,
    HandOffRequest,
    ReplyDraft,
    Usage,
)
from threadline.ai_responder.domain.customer_message import Choice, CustomerMessage
from threadline.ai_responder.domain.reply_format import ButtonsReply, ListReply, TextReply
from threadline.testing.clock import FakeClock
from threadline.testing.model_servers import (
    AnthropicServer,
    ErrorAnswer,
    OpenAIServer,
    TextAnswer,
    ToolCallAnswer,
)

SLOTS = {
    "kind": "buttons",
    "text": "Which day suits you?",
    "options": [
        {"id": "tue", "title": "Tuesday 3pm"},
        {"id": "wed", "title": "Wednesday 10am"},
    ],
}


def customer_message(
    text: str, *, sent_at: datetime, kind: str = "text", choice: Choice | None = None
) -> CustomerMessage:
    return CustomerMessage(
        message_id="m-1",
        conversation_id="conv-1",
        type=kind,
        text=text,
        sent_at=sent_at,
        customer_name="Ana Souza",
        choice=choice,
    )


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server


def openai_model(server: OpenAIServer) -> AssistantModel:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
    return model_for("openai:gpt-4.1-mini", env, ModelSettings(5.0, 2))


def offline_responder(clock: FakeClock) -> Responder:
    return Responder(model_for("offline:x", {}), clock=clock, stale_after=timedelta(hours=1))


async def answer_with(
    model: AssistantModel, message_text: str = "Can I book for Tuesday?", **prompt: str
) -> tuple[ReplyDraft | None, HandOffRequest | None]:
    clock = FakeClock()
    responder = Responder(model, clock=clock, stale_after=timedelta(hours=1), **prompt)
    answer = await responder.answer(customer_message(message_text, sent_at=clock.now))
    await model.close()
    assert answer is not None
    return answer.draft, answer.hand_off


async def test_buttons_chosen_by_the_model_are_interactive_content(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(ToolCallAnswer("reply", SLOTS, input_tokens=50, cached_tokens=20))

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert hand_off is None and draft is not None
    assert isinstance(draft.reply, ButtonsReply)
    kind, text, payload_json = draft.content
    payload = json.loads(payload_json)
    assert (kind, text, payload["type"]) == ("interactive", "Which day suits you?", "button")
    assert [b["reply"] for b in payload["action"]["buttons"]] == [
        {"id": "tue", "title": "Tuesday 3pm"},
        {"id": "wed", "title": "Wednesday 10am"},
    ]
    assert (draft.model, draft.usage) == ("openai:gpt-4.1-mini", Usage(50, 7, 20))
    assert draft.latency_seconds > 0


async def test_four_options_for_buttons_are_repaired_to_a_list(
    openai_server: OpenAIServer,
) -> None:
    options = [{"id": f"d{n}", "title": f"Day {n}"} for n in range(1, 5)]
    openai_server.script(
        ToolCallAnswer("reply", {"kind": "buttons", "text": "Pick a day", "options": options})
    )

    draft, _ = await answer_with(openai_model(openai_server))

    assert draft is not None and isinstance(draft.reply, ListReply)
    assert [row.title for row in draft.reply.rows] == ["Day 1", "Day 2", "Day 3", "Day 4"]
    assert json.loads(draft.content[2])["type"] == "list"


async def test_the_hand_off_tool_hands_off_with_the_models_reason_and_no_reply(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(ToolCallAnswer("hand_off", {"reason": "wants a refund of 300 EUR"}))

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert draft is None
    assert hand_off is not None and hand_off.reason == "wants a refund of 300 EUR"
    assert hand_off.request_id == "hand-off-m-1"


async def test_provider_errors_hand_off_with_the_reason_and_no_reply(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(*[ErrorAnswer(500, "the GPUs are on fire")] * 3)

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert draft is None and hand_off is not None
    assert hand_off.reason == (
        "the assistant is unavailable (openai:gpt-4.1-mini): HTTP 500: the GPUs are on fire"
    )
    assert len(openai_server.requests) == 3  # the SDK's two bounded retries, then no more


async def test_a_refused_request_hands_off_saying_so(openai_server: OpenAIServer) -> None:
    openai_server.script(ErrorAnswer(401, "bad key"))

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert draft is None and hand_off is not None
    assert hand_off.reason == (
        "the assistant is unavailable (openai:gpt-4.1-mini refused the request): HTTP 401: bad key"
    )


async def test_buttons_through_anthropic_are_interactive_content_too() -> None:
    async with AnthropicServer() as server:
        server.script(ToolCallAnswer("reply", SLOTS, text="Let me offer the free slots."))
        env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test"}
        draft, hand_off = await answer_with(model_for("anthropic:claude-sonnet-4-5", env))

    assert hand_off is None and draft is not None and isinstance(draft.reply, ButtonsReply)
    assert draft.content[0] == "interactive"
    assert server.requests[0].body["tool_choice"] == {"type": "any"}


class RecordingReplies:
    def __init__(self) -> None:
        self.published: list[ReplyDraft | HandOffRequest | DiscardedGeneration] = []

    async def reply_drafted(self, draft: ReplyDraft) -> None:
        self.published.append(draft)

    async def hand_off_requested(self, request: HandOffRequest) -> None:
        self.published.append(request)

    async def generation_discarded(self, discarded: DiscardedGeneration) -> None:
        self.published.append(discarded)


class BothToolsModel:
    """A model of the test's own that calls `reply` and `hand_off` in one answer."""

    name = "test:both"

    async def generate(self, request: ModelRequest) -> ModelAnswer:
        return ModelAnswer(
            text="",
            tool_calls=(
                ToolCall("hand_off", {"reason": "asks about a refund"}),
                ToolCall("reply", {"kind": "text", "text": "Passing you on."}),
            ),
            usage=Usage(10, 5),
            model=self.name,
            latency_seconds=0.1,
        )

    async def close(self) -> None:
        return None


async def test_both_tools_called_give_a_reply_and_a_hand_off() -> None:
    clock = FakeClock()
    responder = Responder(BothToolsModel(), clock=clock, stale_after=timedelta(hours=1))

    answer = await responder.answer(customer_message("Where is my refund?", sent_at=clock.now))

    assert answer is not None
    assert answer.draft is not None and answer.draft.content[1] == "Passing you on."
    assert answer.hand_off is not None and answer.hand_off.reason == "asks about a refund"


async def test_plain_text_without_a_tool_call_is_a_repaired_text_reply(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(TextAnswer("word " * 2000))

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert hand_off is None and draft is not None and isinstance(draft.reply, TextReply)
    assert len(draft.reply.text) <= 4096 and draft.reply.text.endswith("…")


async def test_an_empty_answer_hands_off_rather_than_sending_nothing(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(TextAnswer(""))

    draft, hand_off = await answer_with(openai_model(openai_server))

    assert draft is None
    assert hand_off is not None and "gave an empty answer" in hand_off.reason


async def test_the_model_is_asked_with_the_prompt_guidance_tools_and_the_choice(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(ToolCallAnswer("reply", {"kind": "text", "text": "Booked!"}))
    choice = Choice("tue", "Tuesday 3pm")

    clock = FakeClock()
    model = openai_model(openai_server)
    responder = Responder(
        model, clock=clock, stale_after=timedelta(hours=1), system_prompt="You are Lina's salon."
    )
    tap = customer_message(choice.as_text(), sent_at=clock.now, kind="interactive", choice=choice)
    await responder.answer(tap)
    await model.close()

    (request,) = openai_server.requests
    system, customer = request.body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are Lina's salon.\n\nYou are writing in WhatsApp.")
    assert customer == {"role": "user", "content": '[chose "Tuesday 3pm", option id "tue"]'}
    assert [tool["function"]["name"] for tool in request.body["tools"]] == ["reply", "hand_off"]
    assert request.body["tool_choice"] == "required"


async def test_without_a_business_prompt_the_default_one_is_used(
    openai_server: OpenAIServer,
) -> None:
    openai_server.script(TextAnswer("Hello!"))

    await answer_with(openai_model(openai_server))

    assert (
        openai_server.requests[0].body["messages"][0]["content"].startswith(DEFAULT_SYSTEM_PROMPT)
    )


async def test_the_offline_model_gives_a_fixed_honest_text_reply() -> None:
    clock = FakeClock()

    answer = await offline_responder(clock).answer(customer_message("hi", sent_at=clock.now))

    assert answer is not None and answer.hand_off is None and answer.draft is not None
    assert answer.draft.content[0] == "text"
    assert "assistant is offline" in answer.draft.content[1]
    assert answer.draft.model == "offline:x"


async def test_the_draft_id_derives_from_the_message_answered() -> None:
    clock = FakeClock()

    answer = await offline_responder(clock).answer(customer_message("hi", sent_at=clock.now))

    assert answer is not None and answer.draft is not None
    draft = answer.draft
    assert (draft.draft_id, draft.conversation_id, draft.in_reply_to_message_id) == (
        "draft-m-1",
        "conv-1",
        "m-1",
    )


async def test_a_stale_message_is_not_answered() -> None:
    clock = FakeClock()

    answer = await offline_responder(clock).answer(
        customer_message("hi", sent_at=clock.now - timedelta(hours=1, seconds=1))
    )

    assert answer is None


async def test_a_customer_asking_for_a_person_is_handed_off_without_asking_the_model(
    openai_server: OpenAIServer,
) -> None:
    draft, request = await answer_with(openai_model(openai_server), "Can I talk to a human please?")

    assert request is not None and request.conversation_id == "conv-1"
    assert request.reason == "the customer asked for a person"
    assert draft is not None and draft.model == KEYWORD_MODEL
    assert draft.content[1] == "Of course, Ana. A member of our team will take it from here."
    assert openai_server.requests == []


async def test_an_ordinary_question_is_not_handed_off() -> None:
    clock = FakeClock()

    answer = await offline_responder(clock).answer(
        customer_message("Opening hours?", sent_at=clock.now)
    )

    assert answer is not None and answer.hand_off is None
