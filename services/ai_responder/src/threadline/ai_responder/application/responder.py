"""The assistant's answer to a customer's messages (a burst): a drafted reply, a hand-off, or
both.

A customer asking for a person in so many words is handed off without asking the model (the
cheap first path). Otherwise the model answers through its tools: `reply` (a WhatsApp format,
repaired to WhatsApp's limits), `hand_off` (with a reason the operator reads), or both (the
reply first). Plain text without a tool call is a text reply. A model that cannot answer hands
the conversation off with the reason: never a silent drop, never two replies.

The model reads the messages in their conversation's history (within the context budget) with
the assistant's prompt and language; each draft records the assistant (and its version), the
model, the tokens, the latency and the price, and which messages it answers.

An assistant with knowledge bases (issue 12 item 1) has them searched with the burst's question
first (application/grounding.py); the model is given the passages found, or told there are
none, and the draft keeps as `citations` the given passages the `reply` tool's `sources` name.
The model may start one of the business's flows (`start_flow`, offered when there are flows it
may start): the answer says which, and the flow asks next (application/flow_running.py).
An assistant that collects customer data (issue 12 item 2) is offered `collect_customer_data`,
run in the same rounds as the HTTP tools (application/collecting.py): the model reads what was
saved and what was refused, with a hint to ask again."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Final

from threadline.ai_responder.application.collecting import (
    COLLECT_CUSTOMER_DATA,
    COLLECT_GUIDANCE,
    CollectCustomerData,
    collect_tool,
)
from threadline.ai_responder.application.grounding import (
    PASSAGES,
    KnowledgeSearch,
    ground,
    rewritten_question,
)
from threadline.ai_responder.application.model_request import (
    DEFAULT_MAX_CONTEXT_TOKENS,
    INTERPRETATION,
    SEARCH_KNOWLEDGE,
    SOURCES,
    START_FLOW,
    model_request,
)
from threadline.ai_responder.application.ports import (
    NO_HISTORY,
    AssistantModel,
    History,
    ModelAnswer,
    ModelError,
    ModelRefused,
    ModelRequest,
    PriceTable,
    ToolCall,
    ToolRound,
    Usage,
)
from threadline.ai_responder.application.seeing import NO_SIGHT, Sight
from threadline.ai_responder.application.tool_calls import CallTools
from threadline.ai_responder.domain.answers import (
    NO_USAGE,
    Answer,
    HandOffRequest,
    Producer,
    ReplyDraft,
)
from threadline.ai_responder.domain.citations import Grounding, cited
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.http_tools import HttpTool, canonical_arguments
from threadline.ai_responder.domain.policy import wants_a_person, why_not_answered
from threadline.ai_responder.domain.reply_format import TextReply, repair, shorten
from threadline.ai_responder.domain.tool_calls import ToolCalled, ToolResult
from threadline.rules.flow_definition import FlowDefinition
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

# The keyword path's reply is written by the platform, not by a model; its drafts say so.
KEYWORD_MODEL: Final = "threadline:keyword-hand-off"
REASON_LIMIT: Final = 500
NO_REASON: Final = "the assistant handed the conversation off without saying why"
INTERPRETATION_LIMIT: Final = 1000
# Rounds of tools (the business's HTTP tools, collect_customer_data) in one answer; then the
# model must reply or hand off.
MAX_TOOL_ROUNDS: Final = 4


class Responder:
    """Answers each customer message the policy answers (not stickers, reactions, system
    notices, unsupported types or stale messages); the session decides what is sent."""

    def __init__(
        self,
        model: AssistantModel,
        *,
        clock: Clock,
        stale_after: timedelta,
        system_prompt: str = "",
        max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
        prices: PriceTable | None = None,
        tools: CallTools | None = None,
        knowledge: KnowledgeSearch | None = None,
        collector: CollectCustomerData | None = None,
    ) -> None:
        self._model, self._clock, self._stale_after = model, clock, stale_after
        self._tools = tools
        self._collector = collector
        self._knowledge = knowledge
        self._prices = prices
        self._system_prompt = system_prompt
        self._max_context_tokens = max_context_tokens

    def why_not_answered(self, message: CustomerMessage) -> str:
        """Why `message` is recorded but not answered; "" when it is answered."""
        return why_not_answered(message, self._clock(), stale_after=self._stale_after)

    async def answer(
        self, message: CustomerMessage, *, history: History = NO_HISTORY
    ) -> Answer | None:
        """The answer to `message` alone, by this responder's own assistant, in the context of
        `history`; None when the policy does not answer it."""
        if self.why_not_answered(message):
            return None
        return await self.answer_burst([message], history=history)

    async def answer_burst(
        self,
        messages: Sequence[CustomerMessage],
        *,
        history: History,
        assistant: AssistantSettings | None = None,
        model: AssistantModel | None = None,
        sight: Sight = NO_SIGHT,
        generation_id: str = "",
        flows: Sequence[FlowDefinition] = (),
    ) -> Answer:
        """One answer to the customer's `messages` (a burst, oldest first), by `assistant`
        (this responder's own settings by default) through `model` (this responder's by
        default), in the context of `history`, shown the burst's images `sight` holds (the
        draft records what the model said it saw in them). The assistant's HTTP tools the model
        calls are run (`CallTools`) and the model asked again with their results, at most
        `MAX_TOOL_ROUNDS` times; the draft counts every round's tokens and time."""
        last = messages[-1]
        covered = tuple(m.message_id for m in messages)
        if any(wants_a_person(m) for m in messages):
            return self._keyword_hand_off(last, covered)
        model = model if model is not None else self._model
        prompt = assistant.system_prompt if assistant is not None else self._system_prompt
        grounding = None
        rewriting = NO_USAGE  # what rewriting the question cost
        if assistant is not None and assistant.knowledge_bases and self._knowledge is not None:
            question, rewriting = await rewritten_question(model, messages, history)
            grounding = await ground(self._knowledge, assistant.knowledge_bases, question)
        request = model_request(
            last,
            also=messages[:-1],
            business_prompt=prompt,
            language=assistant.language if assistant is not None else "",
            history=history,
            max_context_tokens=(
                assistant.max_context_tokens if assistant is not None else self._max_context_tokens
            ),
            sight=sight,
            http_tools=(
                assistant.http_tools if assistant is not None and self._tools is not None else ()
            ),
            grounding=grounding,
            flows=flows,
        )
        if assistant is not None and assistant.collect_fields and self._collector is not None:
            request = replace(
                request,
                system_prompt=f"{request.system_prompt}\n\n{COLLECT_GUIDANCE}",
                tools=(*request.tools, collect_tool(assistant.collect_fields)),
            )
        try:
            answer, grounding = await self._with_tools(
                model, request, assistant, last, generation_id, grounding
            )
            answer = replace(answer, usage=_sum(rewriting, answer.usage))
        except ModelError as error:
            refused = " refused the request" if isinstance(error, ModelRefused) else ""
            reason = f"the assistant is unavailable ({error.model}{refused}): {error.reason}"
            log.warning("handing off message %s: %s", last.message_id, reason)
            return Answer(hand_off=self._hand_off(last, reason))
        producer = Producer(
            model=answer.model,
            usage=answer.usage,
            latency_seconds=answer.latency_seconds,
            assistant=assistant.name if assistant is not None else "",
            assistant_version=assistant.version if assistant is not None else 0,
            cost=self._prices.price(answer.model, answer.usage) if self._prices else None,
        )
        return self._read(
            last,
            answer,
            producer,
            covered,
            seeing=bool(sight.seen),
            grounding=grounding,
            flows={flow.id for flow in flows},
        )

    async def _with_tools(
        self,
        model: AssistantModel,
        request: ModelRequest,
        assistant: AssistantSettings | None,
        last: CustomerMessage,
        generation_id: str,
        grounding: Grounding | None = None,
    ) -> tuple[ModelAnswer, Grounding | None]:
        """The model's answer after the rounds of tools it called (the business's HTTP tools,
        `collect_customer_data`, `search_knowledge`; none when it calls none): the last answer,
        with the tokens and time of every round, and the grounding with the passages its own
        searches gave."""
        answer = await model.generate(request)
        if assistant is None:
            return answer, grounding
        by_name = {tool.name: tool for tool in assistant.http_tools} if self._tools else {}
        collecting = bool(assistant.collect_fields) and self._collector is not None
        searching = grounding is not None and self._knowledge is not None
        run = {
            *by_name,
            *((COLLECT_CUSTOMER_DATA,) if collecting else ()),
            *((SEARCH_KNOWLEDGE,) if searching else ()),
        }
        usage, latency = answer.usage, answer.latency_seconds
        rounds: list[ToolRound] = []
        while calls := tuple(c for c in answer.tool_calls if c.name in run):
            results = []
            for call in calls:
                if call.name in by_name:
                    results.append(
                        await self._run_tool(call, by_name, assistant, last, generation_id)
                    )
                    continue
                started = time.perf_counter()
                if call.name == SEARCH_KNOWLEDGE and grounding is not None:
                    grounding, told = await self._search(call, assistant, grounding)
                else:
                    told = await self._run_tool(call, by_name, assistant, last, generation_id)
                results.append(told)
                await self._record_built_in(call, told, last, generation_id, started)
            rounds.append(ToolRound(calls, tuple(results)))
            last_round = len(rounds) >= MAX_TOOL_ROUNDS
            answer = await model.generate(
                replace(
                    request,
                    tool_rounds=tuple(rounds),
                    # After the last round only `reply` and `hand_off` are offered.
                    tools=request.tools[:2] if last_round else request.tools,
                )
            )
            usage = _sum(usage, answer.usage)
            latency += answer.latency_seconds
            if last_round:
                break
        return replace(answer, usage=usage, latency_seconds=latency), grounding

    async def _record_built_in(
        self,
        call: ToolCall,
        told: str,
        last: CustomerMessage,
        generation_id: str,
        started: float,
    ) -> None:
        """A built-in tool's call (`search_knowledge`, `collect_customer_data`) recorded on the
        conversation as the business's tools' are: what it was asked and what the model was
        told (`ok`, or `unavailable` when it could not do its work)."""
        if self._tools is None:
            return
        try:
            failed = "error" in json.loads(told)
        except (ValueError, TypeError):
            failed = False
        generation = generation_id or last.message_id
        await self._tools.record(
            ToolCalled(
                call_id=f"{generation}:{call.call_id or call.name}",
                conversation_id=last.conversation_id,
                generation_id=generation,
                tool=call.name,
                arguments_json=canonical_arguments(call.arguments),
                result=ToolResult("unavailable" if failed else "ok", body=told),
                latency_seconds=time.perf_counter() - started,
                mutating=False,
                replayed=False,
                at=self._clock(),
            )
        )

    async def _search(
        self, call: ToolCall, assistant: AssistantSettings, grounding: Grounding
    ) -> tuple[Grounding, str]:
        """The model's own search of the assistant's knowledge bases: the grounding with what
        it found, and the passages as the model reads them (numbered to cite)."""
        question = call.arguments.get("question")
        if not isinstance(question, str) or not question.strip() or self._knowledge is None:
            return grounding, json.dumps({"error": "search_knowledge needs a question"})
        try:
            found = await self._knowledge.search(
                assistant.knowledge_bases, question.strip(), PASSAGES
            )
        except Exception as error:
            log.warning("the model's search of %s failed: %s", assistant.knowledge_bases, error)
            return grounding, json.dumps({"error": "the knowledge base cannot be searched now"})
        if found.abstained:
            told = {"passages": [], "note": "nothing relevant enough was found"}
            return grounding, json.dumps(told, ensure_ascii=False)
        grounding, added = grounding.extended(found)
        passages = [{"number": p.number, "document": p.document, "text": p.text} for p in added]
        note = "" if added else "only passages you were already given"
        return grounding, json.dumps(
            {"passages": passages, **({"note": note} if note else {})}, ensure_ascii=False
        )

    async def _run_tool(
        self,
        call: ToolCall,
        by_name: Mapping[str, HttpTool],
        assistant: AssistantSettings,
        last: CustomerMessage,
        generation_id: str,
    ) -> str:
        """What the tool `call` names gave, as the model reads it."""
        if call.name == COLLECT_CUSTOMER_DATA and self._collector is not None:
            return await self._collector.run(
                assistant.collect_fields,
                call,
                conversation_id=last.conversation_id,
                generation_id=generation_id or last.message_id,
                language=assistant.language,
            )
        assert self._tools is not None  # only offered with a tool runner
        result = await self._tools.run(
            by_name[call.name],
            call,
            conversation_id=last.conversation_id,
            generation_id=generation_id or last.message_id,
        )
        return result.for_model()

    def _keyword_hand_off(self, message: CustomerMessage, covered: tuple[str, ...]) -> Answer:
        first_name = message.customer_name.split(" ")[0]
        greeting = f"Of course, {first_name}." if first_name else "Of course."
        text = f"{greeting} A member of our team will take it from here."
        now = self._clock()
        draft = ReplyDraft.answering(
            message,
            reply=TextReply(text),
            model=KEYWORD_MODEL,
            usage=NO_USAGE,
            latency_seconds=0.0,
            at=now,
        )
        draft = replace(draft, cost=Decimal(0), covered_message_ids=covered)
        return Answer(draft=draft, hand_off=HandOffRequest.after(message, at=now))

    def _read(
        self,
        message: CustomerMessage,
        answer: ModelAnswer,
        producer: Producer,
        covered: tuple[str, ...],
        *,
        seeing: bool,
        grounding: Grounding | None = None,
        flows: set[str] | None = None,
    ) -> Answer:
        replies = [call.arguments for call in answer.tool_calls if call.name == "reply"]
        hand_offs = [call.arguments for call in answer.tool_calls if call.name == "hand_off"]
        starts = [
            flow_id
            for call in answer.tool_calls
            if call.name == START_FLOW
            and (flow_id := call.arguments.get("flow_id")) in (flows or ())
        ]
        start_flow = str(starts[0]) if starts and not hand_offs else ""
        known = {"reply", "hand_off", START_FLOW, COLLECT_CUSTOMER_DATA}
        if unknown := {c.name for c in answer.tool_calls} - known:
            log.warning("model %s called unknown tools %s", answer.model, sorted(unknown))
        if len(replies) > 1:
            log.warning(
                "model %s drafted %d replies; only the first is kept", answer.model, len(replies)
            )
        arguments: Mapping[str, object] | None = replies[0] if replies else None
        if arguments is None and not hand_offs and answer.text.strip():
            arguments = {"kind": "text", "text": answer.text}
        draft = None
        if arguments is not None:
            draft = replace(
                ReplyDraft.answering(
                    message,
                    reply=repair(arguments),
                    model=answer.model,
                    usage=answer.usage,
                    latency_seconds=answer.latency_seconds,
                    at=self._clock(),
                ),
                assistant=producer.assistant,
                assistant_version=producer.assistant_version,
                cost=producer.cost,
                covered_message_ids=covered,
                # Asked for only when the model was shown images: never made up otherwise.
                interpretation=_interpretation(arguments) if seeing else "",
                # Only passages the model was given: a number it made up is no citation.
                citations=cited(grounding, arguments.get(SOURCES)) if grounding is not None else (),
            )
        hand_off = None
        if hand_offs:
            hand_off = self._hand_off(message, _reason(hand_offs[0]) or NO_REASON)
        elif draft is None and not start_flow:
            hand_off = self._hand_off(
                message, f"the assistant ({answer.model}) gave an empty answer"
            )
        return Answer(draft=draft, hand_off=hand_off, producer=producer, start_flow=start_flow)

    def _hand_off(self, message: CustomerMessage, reason: str) -> HandOffRequest:
        return HandOffRequest.after(message, at=self._clock(), reason=shorten(reason, REASON_LIMIT))


def _interpretation(arguments: Mapping[str, object]) -> str:
    seen = arguments.get(INTERPRETATION)
    return shorten(" ".join(seen.split()), INTERPRETATION_LIMIT) if isinstance(seen, str) else ""


def _reason(arguments: Mapping[str, object]) -> str:
    reason = arguments.get("reason")
    return shorten(reason.strip(), REASON_LIMIT) if isinstance(reason, str) else ""


def _sum(one: Usage, other: Usage) -> Usage:
    return Usage(
        one.input_tokens + other.input_tokens,
        one.output_tokens + other.output_tokens,
        one.cached_tokens + other.cached_tokens,
    )
