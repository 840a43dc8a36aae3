"""Use case: a conversation's flow (issue 12 item 3) answers the customer instead of the model.

`RunFlows.take` is asked first for every burst the assistant answers. When the conversation has
a flow under way, the burst's messages are its answers, in order; when it has none, a message
may start one (its trigger: a button payload, a keyword, the conversation's first message). The
flow runs (domain/flows/engine.py, pure) until it waits again:

- its replies are drafts the flow wrote (`author` flow, model `flow:<id>`, no tokens, no cost);
- a tool step calls the serving assistant's HTTP tool of that name through `CallTools`, so the
  call is recorded on the conversation and a call that changes something is never made twice
  (a regenerated turn reads the booking's recorded result instead of booking again);
- an ask with `extract` asks the assistant's model to read a free-text answer;
- a hand-off goes to a person.

None when no flow takes the burst: the model answers. A customer who asks for a person in so
many words during a flow ends the flow (handed off) and the model's keyword path answers.

What the flow is at is kept per conversation (`FlowStates`, compare-and-set) and written only
when the turn is delivered: a superseded generation leaves it as it was, and the next burst
(with the new message too) runs from the same state. Each turn tells the session where the flow
is (`FlowStep`: step, collected data, expiry, status). `expire_due` ends the flows whose customer
stopped answering, the way their definition says (a message, a hand-off, or nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from threadline.ai_responder.application.ports import (
    AssistantModel,
    ModelError,
    ModelRequest,
    Tool,
    ToolCall,
    Turn,
)
from threadline.ai_responder.application.tool_calls import CallTools
from threadline.ai_responder.application.view_ports import MAX_MESSAGES, ConversationView
from threadline.ai_responder.domain.answers import NO_USAGE, HandOffRequest, ReplyDraft
from threadline.ai_responder.domain.customer_message import CustomerMessage
from threadline.ai_responder.domain.directory import AssistantSettings
from threadline.ai_responder.domain.flow_catalog import FlowCatalog
from threadline.ai_responder.domain.flows.engine import (
    Action,
    CustomerReply,
    Extraction,
    FlowState,
    FlowStatus,
    HandOffToPerson,
    Input,
    RequestExtraction,
    RequestTool,
    SendReply,
    Tick,
    ToolResult,
    advance,
    start,
    triggered,
)
from threadline.ai_responder.domain.policy import wants_a_person
from threadline.ai_responder.domain.reply_format import Reply, shorten
from threadline.messaging.failures import describe
from threadline.rules.fields import FieldSpec
from threadline.rules.flow_definition import FlowDefinition
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

FLOW: Final = "flow"
# How much of a tool's answer a flow keeps as the value it saves (`save_as`).
SAVED_RESULT_LIMIT: Final = 500
# The keys of a JSON object answer that say what the call made (a booking's reference).
RESULT_KEYS: Final = ("reference", "id", "result", "confirmation", "message")
# Steps a turn may take through tool results and extractions before it stops.
MAX_REQUESTS_PER_TURN: Final = 20


@dataclass(frozen=True, slots=True)
class RunningFlow:
    """A conversation's flow as kept between messages: the engine's state, the number it runs
    on, the customer message its latest reply answers, and when it started."""

    conversation_id: str
    business_number: str
    state: FlowState
    last_message_id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class FlowStep:
    """Where a conversation's flow is, as the session records it (`FlowStepReached`)."""

    event_id: str
    conversation_id: str
    flow_id: str
    flow_version: int
    step_id: str
    session_data: Mapping[str, str]
    status: FlowStatus
    expires_at: datetime
    reached_at: datetime


@dataclass(frozen=True, slots=True)
class FlowTurn:
    """What a flow did with a burst (or with time passing): its replies in order, a hand-off,
    where it is now (`flow`, ended or not, kept over `revision`, 0 for none) and the step the
    session records; `model_answers` when the flow gave the burst back to the model."""

    flow: RunningFlow
    revision: int
    drafts: tuple[ReplyDraft, ...]
    hand_off: HandOffRequest | None
    step: FlowStep
    model_answers: bool = False


class FlowStates(Protocol):
    """Each conversation's running flow, shared by every responder."""

    async def read(self, conversation_id: str) -> tuple[RunningFlow | None, int]:
        """The running flow and its revision (None, 0 when there is none)."""
        ...

    async def keep(self, flow: RunningFlow, revision: int) -> bool:
        """Keep `flow` (forgotten once it ended) if the conversation's flow is still at
        `revision`; False when another responder changed it meanwhile."""
        ...

    async def due(self, now: datetime) -> list[str]:
        """The conversations whose running flow expired at or before `now`."""
        ...


class FlowSteps(Protocol):
    async def step_reached(self, step: FlowStep) -> None:
        """Tell the session where the flow is; raises when not kept."""
        ...


class RunFlows:
    def __init__(
        self,
        *,
        states: FlowStates,
        catalog: FlowCatalog,
        clock: Clock,
        timezone: ZoneInfo,
        tools: CallTools | None = None,
    ) -> None:
        self._states, self._catalog, self._clock = states, catalog, clock
        self._timezone, self._tools = timezone, tools

    async def take(
        self,
        messages: Sequence[CustomerMessage],
        *,
        view: ConversationView,
        assistant: AssistantSettings,
        model: AssistantModel,
    ) -> FlowTurn | None:
        """The flow's turn for the burst `messages` (oldest first), or None when no flow takes
        it."""
        conversation_id = view.conversation_id
        running, revision = await self._states.read(conversation_id)
        now = self._clock()
        covered = tuple(m.message_id for m in messages)
        if running is not None and any(wants_a_person(m) for m in messages):
            ended = replace(running.state, status=FlowStatus.HANDED_OFF)
            flow = replace(running, state=ended, last_message_id=messages[-1].message_id)
            return FlowTurn(flow, revision, (), None, self._step(flow, now), model_answers=True)
        first = _first_message(view, covered)
        flows = self._catalog.flows_for(view.business_number)
        actions: list[Action] = []
        taken = False
        for message in messages:
            reply = _reply_of(message)
            if running is None or not running.state.running:
                definition = triggered(flows, reply, first_message=first and message is messages[0])
                if definition is None:
                    continue
                log.info("flow %s starts in %s", definition.id, conversation_id)
                state, new = start(definition, now)
                running = RunningFlow(
                    conversation_id, view.business_number, state, message.message_id, now
                )
            else:
                definition = self._definition(running.state.flow_id)
                if definition is None:  # never: flows are never removed
                    log.warning("flow %s of %s is unknown", running.state.flow_id, conversation_id)
                    return None
                state, new = advance(definition, running.state, reply, now, self._timezone)
                running = replace(running, state=state, last_message_id=message.message_id)
            taken = True
            # Only this message's requests: an earlier message's were resolved already.
            running, more = await self._resolve(running, definition, list(new), assistant, model)
            actions.extend((*new, *more))
        if not taken or running is None:
            return None
        last = messages[-1]
        drafts, hand_off = self._answers(actions, running, assistant, covered, last.message_id)
        return FlowTurn(running, revision, drafts, hand_off, self._step(running, now))

    def startable(self, business_number: str) -> list[FlowDefinition]:
        """The flows on `business_number` the assistant's model may start (trigger `assistant`)."""
        return [d for d in self._catalog.flows_for(business_number) if d.trigger.assistant]

    async def start(
        self,
        flow_id: str,
        messages: Sequence[CustomerMessage],
        *,
        view: ConversationView,
        assistant: AssistantSettings,
        model: AssistantModel,
    ) -> FlowTurn | None:
        """The model started `flow_id` answering `messages`: its first turn (after the model's
        reply, which covers the burst); None when the flow may not be started here or a flow
        already runs."""
        if not any(d.id == flow_id for d in self.startable(view.business_number)):
            log.warning("the model asked for flow %s, which it may not start here", flow_id)
            return None
        running, revision = await self._states.read(view.conversation_id)
        if running is not None and running.state.running:
            return None
        definition = self._definition(flow_id)
        if definition is None:
            return None
        now = self._clock()
        last = messages[-1].message_id
        state, actions = start(definition, now)
        log.info("the assistant starts flow %s in %s", flow_id, view.conversation_id)
        flow = RunningFlow(view.conversation_id, view.business_number, state, last, now)
        flow, more = await self._resolve(flow, definition, list(actions), assistant, model)
        drafts, hand_off = self._answers([*actions, *more], flow, assistant, (), last)
        return FlowTurn(flow, revision, drafts, hand_off, self._step(flow, now))

    async def keep(self, turn: FlowTurn) -> bool:
        """Keep where the turn left the flow; False when another turn changed it meanwhile."""
        return await self._states.keep(turn.flow, turn.revision)

    async def expire_due(self, publish: PublishTurn) -> int:
        """End every flow past its expiry as its definition says, and `publish` what that says
        (the expiry's message, a hand-off, the ended step); how many ended."""
        now = self._clock()
        ended = 0
        for conversation_id in await self._states.due(now):
            running, revision = await self._states.read(conversation_id)
            if running is None or not running.state.running or now < running.state.expires_at:
                continue
            definition = self._definition(running.state.flow_id)
            if definition is None:
                continue
            state, actions = advance(definition, running.state, Tick(), now, self._timezone)
            flow = replace(running, state=state)
            moment = int(running.state.expires_at.timestamp())
            drafts, hand_off = self._answers(
                actions, flow, None, (), running.last_message_id, turn=f"expired-{moment}"
            )
            turn = FlowTurn(flow, revision, drafts, hand_off, self._step(flow, now))
            # Kept first: of two responders expiring it at once, only one says so.
            if not await self._states.keep(flow, revision):
                continue
            await publish(turn)
            ended += 1
            log.info("flow %s of %s expired", state.flow_id, conversation_id)
        return ended

    def _definition(self, flow_id: str) -> FlowDefinition | None:
        configured = self._catalog.flow(flow_id)
        return configured.definition if configured is not None else None

    async def _resolve(
        self,
        running: RunningFlow,
        definition: FlowDefinition,
        actions: list[Action],
        assistant: AssistantSettings,
        model: AssistantModel,
    ) -> tuple[RunningFlow, list[Action]]:
        """Run the tool calls and extractions the flow asked for (in `actions`, and in what
        their results lead to) until it waits for the customer or ends."""
        pending = [a for a in actions if isinstance(a, RequestTool | RequestExtraction)]
        more: list[Action] = []
        for _ in range(MAX_REQUESTS_PER_TURN):
            if not pending or not running.state.running:
                break
            request = pending.pop()
            given: Input
            if isinstance(request, RequestTool):
                given = await self._call(request, running, assistant)
            else:
                given = Extraction(request.step_id, await _extract(model, request))
            state, advanced = advance(
                definition, running.state, given, self._clock(), self._timezone
            )
            running = replace(running, state=state)
            more.extend(advanced)
            pending = [a for a in advanced if isinstance(a, RequestTool | RequestExtraction)]
        return running, more

    async def _call(
        self, request: RequestTool, running: RunningFlow, assistant: AssistantSettings
    ) -> ToolResult:
        tool = next((t for t in assistant.http_tools if t.name == request.name), None)
        if tool is None or self._tools is None:
            return ToolResult(
                request.step_id, ok=False, error=f"the assistant has no tool {request.name}"
            )
        result = await self._tools.run(
            tool,
            ToolCall(request.name, dict(request.arguments), call_id=request.step_id),
            conversation_id=running.conversation_id,
            generation_id=f"flow-{running.conversation_id}-{running.last_message_id}",
        )
        if result.status != "ok":
            error = result.detail or f"{result.status} {result.http_status or ''}".strip()
            return ToolResult(request.step_id, ok=False, error=error)
        return ToolResult(request.step_id, ok=True, result=saved_result(result.body))

    def _answers(
        self,
        actions: Sequence[Action],
        running: RunningFlow,
        assistant: AssistantSettings | None,
        covered: tuple[str, ...],
        answered: str,
        *,
        turn: str = "",
    ) -> tuple[tuple[ReplyDraft, ...], HandOffRequest | None]:
        now = self._clock()
        replies = [a.reply for a in actions if isinstance(a, SendReply)]
        turn_id = f"flow-{answered}" + (f"-{turn}" if turn else "")
        drafts = tuple(
            _draft(
                reply,
                draft_id=f"{turn_id}-{number}",
                running=running,
                answered=answered,
                assistant=assistant,
                covered=covered if number == 1 else (),
                at=now,
            )
            for number, reply in enumerate(replies, start=1)
        )
        reasons = [a.reason for a in actions if isinstance(a, HandOffToPerson)]
        hand_off = None
        if reasons:
            hand_off = HandOffRequest(
                request_id=f"hand-off-{turn_id}",
                conversation_id=running.conversation_id,
                reason=shorten(f"flow {running.state.flow_id}: {reasons[0]}", 500),
                requested_at=now,
            )
        return drafts, hand_off

    def _step(self, running: RunningFlow, now: datetime) -> FlowStep:
        state = running.state
        return FlowStep(
            event_id=(
                f"flow-{running.conversation_id}-{running.last_message_id}-{state.current_step_id}"
                f"-{state.status.value}"
            ),
            conversation_id=running.conversation_id,
            flow_id=state.flow_id,
            flow_version=self._version(state.flow_id),
            step_id=state.current_step_id,
            session_data=dict(state.session_data),
            status=state.status,
            expires_at=state.expires_at,
            reached_at=now,
        )

    def _version(self, flow_id: str) -> int:
        configured = self._catalog.flow(flow_id)
        return configured.version if configured is not None else 0


class PublishTurn(Protocol):
    async def __call__(self, turn: FlowTurn) -> None:
        """Tell the session the turn's replies, hand-off and step (raises when not kept)."""
        ...


def _reply_of(message: CustomerMessage) -> CustomerReply:
    if message.choice is not None:
        return CustomerReply(text=message.choice.title, reply_id=message.choice.id)
    return CustomerReply(text=message.text)


def _first_message(view: ConversationView, burst: tuple[str, ...]) -> bool:
    """Whether the burst opens the conversation: nothing was said in it before."""
    if len(view.messages) >= MAX_MESSAGES:
        return False
    positions = [m.position for m in view.messages if m.message_id in burst]
    first = min(positions, default=0)
    return not any(m.position < first for m in view.messages if m.message_id not in burst)


def saved_result(body: str) -> str:
    """What a flow keeps of a tool's answer: a JSON object's reference (its `reference`, `id`,
    `result`, `confirmation` or `message`, the first there is), else the answer's text."""
    try:
        answer = json.loads(body)
    except json.JSONDecodeError:
        return shorten(body.strip(), SAVED_RESULT_LIMIT)
    if isinstance(answer, Mapping):
        for key in RESULT_KEYS:
            value = answer.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                return shorten(str(value), SAVED_RESULT_LIMIT)
    return shorten(body.strip(), SAVED_RESULT_LIMIT)


def _draft(
    reply: Reply,
    *,
    draft_id: str,
    running: RunningFlow,
    answered: str,
    assistant: AssistantSettings | None,
    covered: tuple[str, ...],
    at: datetime,
) -> ReplyDraft:
    return ReplyDraft(
        draft_id=draft_id,
        conversation_id=running.conversation_id,
        in_reply_to_message_id=answered,
        reply=reply,
        model=f"{FLOW}:{running.state.flow_id}",
        usage=NO_USAGE,
        latency_seconds=0.0,
        drafted_at=at,
        assistant=assistant.name if assistant is not None else "",
        assistant_version=assistant.version if assistant is not None else 0,
        cost=Decimal(0),
        covered_message_ids=covered,
        author=FLOW,
    )


EXTRACTED: Final = Tool(
    name="extracted",
    description="What the customer's answer gives for the field; an empty value when it "
    "gives none.",
    parameters={
        "type": "object",
        "properties": {"value": {"type": "string"}},
        "required": ["value"],
        "additionalProperties": False,
    },
)


async def _extract(model: AssistantModel, request: RequestExtraction) -> str:
    """The model's reading of a free-text answer ("" when it finds none or cannot answer)."""
    field: FieldSpec = request.field
    choices = ", ".join(f"{o.id} ({o.title})" for o in field.options)
    prompt = (
        f"A customer was asked for their {field.key} (a {field.kind.value}). Read the answer "
        "and call `extracted` with the value it gives, written plainly: a date as YYYY-MM-DD, "
        "a time as HH:MM, a choice as its id"
        + (f" (one of: {choices})" if choices else "")
        + ". If the answer gives no such value, call it with an empty value. Never guess."
    )
    try:
        answer = await model.generate(
            ModelRequest(
                system_prompt=prompt,
                turns=(Turn("customer", request.text),),
                tools=(EXTRACTED,),
                require_tool=True,
                max_output_tokens=100,
            )
        )
    except ModelError as error:
        log.warning("the model could not read a %s: %s", field.key, error.reason)
        return ""
    for call in answer.tool_calls:
        value = call.arguments.get("value")
        if call.name == EXTRACTED.name and isinstance(value, str):
            return value.strip()
    return ""


class FlowExpiry:
    """Looks for expired flows every `every_seconds` (`RunFlows.expire_due`) until stopped; a
    failed look (NATS out of reach) is logged and tried again at the next."""

    def __init__(self, flows: RunFlows, *, publish: PublishTurn, every_seconds: float) -> None:
        self._flows, self._publish, self._every = flows, publish, every_seconds
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._flows.expire_due(self._publish)
            except Exception as error:
                log.warning("could not look for expired flows: %s", describe(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every)

    def stop(self) -> None:
        self._stopping.set()


class MemoryFlowStates:
    """`FlowStates` in this process's memory (tests, and a responder without NATS)."""

    def __init__(self) -> None:
        self._flows: dict[str, tuple[RunningFlow, int]] = {}
        self._revision = 0

    async def read(self, conversation_id: str) -> tuple[RunningFlow | None, int]:
        return self._flows.get(conversation_id, (None, 0))

    async def keep(self, flow: RunningFlow, revision: int) -> bool:
        _, current = self._flows.get(flow.conversation_id, (None, 0))
        if current != revision:
            return False
        if not flow.state.running:
            self._flows.pop(flow.conversation_id, None)
            return True
        self._revision += 1
        self._flows[flow.conversation_id] = (flow, self._revision)
        return True

    async def due(self, now: datetime) -> list[str]:
        return [
            conversation_id
            for conversation_id, (flow, _) in self._flows.items()
            if flow.state.running and flow.state.expires_at <= now
        ]
