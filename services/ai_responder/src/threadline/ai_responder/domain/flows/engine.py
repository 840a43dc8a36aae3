"""Running a flow: a pure state machine, `advance(definition, state, input, now)`.

A flow runs from step to step until it waits: for the customer's answer to an ask (or the model's
reading of it), or for a tool's result. Every step it enters is a `StepReached`; what it asks the
application to do comes out as actions: `SendReply` (a reply in one of reply_format's formats),
`RequestTool`, `RequestExtraction`, `HandOffToPerson`, and `FlowEnded` with how it ended. The
engine performs nothing and reads no clock: the application records the state (the
conversation's `conversation_flow_id`, `current_step_id`, `session_data`, `expires_at`,
`is_completed`) and does what the actions say.

- An ask's answer is validated (`fields.validate`); a tapped button or list row counts by its id
  (or title) when it is one of this question's options, and is refused when it is an older
  message's.
  A refused answer is re-asked with the field's hint, up to the ask's `attempts`, then the flow
  hands off or skips the field (`on_fail`). With `extract`, a refused answer first goes to the
  model (`RequestExtraction`); what the model reads (`Extraction`) is validated the same way.
- A tool step asks for the call (`RequestTool`, arguments filled from the collected data) and
  waits for its `ToolResult`: saved under `save_as`, then on; an error goes to `on_error`, or
  hands off. A customer message while a tool runs is not the flow's: nothing changes.
- A reply shows a collected choice by its option's title ("Haircut"); the data keeps its id
  ("cut") for branches and tool arguments.
- The flow expires `expiry.after` after it started or after the customer's last answer; any input
  at or after `expires_at` (a `Tick` when nothing else comes) ends it the way the definition says.
  An input for another step (a late tool result) or for a flow that has ended changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final
from zoneinfo import ZoneInfo

from threadline.ai_responder.domain.reply_format import Reply, repair
from threadline.rules.fields import Accepted, FieldKind, FieldSpec, fold, validate
from threadline.rules.flow_definition import (
    PLACEHOLDER,
    Ask,
    Branch,
    CallTool,
    End,
    ExpiryAction,
    FlowDefinition,
    HandOff,
    Message,
    OnFail,
    Send,
    ShowAs,
    Step,
)

WORD: Final = re.compile(r"\w+")
# More steps than this in one advance is a definition the checks let through by mistake.
MAX_STEPS_PER_ADVANCE: Final = 200


class FlowStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    HANDED_OFF = "handed_off"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class FlowState:
    flow_id: str
    version: int
    current_step_id: str
    session_data: Mapping[str, str]
    expires_at: datetime
    status: FlowStatus = FlowStatus.RUNNING
    retries: int = 0  # refused answers at the current ask

    @property
    def completed(self) -> bool:
        return self.status is FlowStatus.COMPLETED

    @property
    def running(self) -> bool:
        return self.status is FlowStatus.RUNNING


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CustomerReply:
    """A customer's message: its text, and the id of the button or list row tapped, if any."""

    text: str = ""
    reply_id: str = ""


@dataclass(frozen=True, slots=True)
class ToolResult:
    step_id: str
    ok: bool
    result: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class Extraction:
    """The model's reading of the customer's answer to an ask ("" when it found none)."""

    step_id: str
    value: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: the flow expires if it is due."""


Input = CustomerReply | ToolResult | Extraction | Tick


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepReached:
    step_id: str


@dataclass(frozen=True, slots=True)
class SendReply:
    reply: Reply


@dataclass(frozen=True, slots=True)
class RequestTool:
    step_id: str
    name: str
    arguments: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RequestExtraction:
    step_id: str
    field: FieldSpec
    text: str


@dataclass(frozen=True, slots=True)
class HandOffToPerson:
    reason: str


@dataclass(frozen=True, slots=True)
class FlowEnded:
    status: FlowStatus
    session_data: Mapping[str, str]


Action = StepReached | SendReply | RequestTool | RequestExtraction | HandOffToPerson | FlowEnded
Advanced = tuple[FlowState, tuple[Action, ...]]


# --- triggers -------------------------------------------------------------------------------


def triggers(definition: FlowDefinition, message: CustomerReply, *, first_message: bool) -> bool:
    """Whether the customer's `message` starts `definition` (the assistant may start any flow
    whose trigger allows it, by name)."""
    trigger = definition.trigger
    if message.reply_id and message.reply_id in trigger.button_payloads:
        return True
    if first_message and trigger.first_message:
        return True
    words = _words(message.text)
    return any(_words(keyword) in words for keyword in trigger.keywords)


def _words(text: str) -> str:
    """`text` as " word word ", so a keyword matches whole words only ("book", not "notebook")."""
    return f" {' '.join(WORD.findall(fold(text)))} "


def triggered(
    definitions: list[FlowDefinition], message: CustomerReply, *, first_message: bool
) -> FlowDefinition | None:
    """The first of `definitions` the message starts: a button payload before a keyword before
    the first message, so the most specific trigger wins."""
    for definition in definitions:
        if message.reply_id and message.reply_id in definition.trigger.button_payloads:
            return definition
    for definition in definitions:
        if triggers(definition, CustomerReply(message.text), first_message=False):
            return definition
    if first_message:
        for definition in definitions:
            if definition.trigger.first_message:
                return definition
    return None


# --- running --------------------------------------------------------------------------------


def start(
    definition: FlowDefinition, now: datetime, session_data: Mapping[str, str] | None = None
) -> Advanced:
    """The flow started at `now` (with data already known), run to its first wait."""
    state = FlowState(
        flow_id=definition.id,
        version=definition.version,
        current_step_id=definition.first_step.id,
        session_data=dict(session_data or {}),
        expires_at=now + definition.expiry.after,
    )
    return _run(definition, state, definition.first_step.id, [])


def advance(
    definition: FlowDefinition,
    state: FlowState,
    event: Input,
    now: datetime,
    timezone: ZoneInfo,
) -> Advanced:
    """`state` after `event` at `now` (`timezone` is the business's, for dates), and what to do."""
    if not state.running:
        return state, ()
    if now >= state.expires_at:
        return _expire(definition, state)
    try:
        step = definition.step(state.current_step_id)
    except KeyError:  # the definition changed under a running flow
        return _hand_off(state, [], "the flow's step no longer exists", None)
    action = step.action
    if isinstance(action, Ask) and isinstance(event, CustomerReply):
        state = replace(state, expires_at=now + definition.expiry.after)
        return _answer(definition, state, step, action, event, now, timezone)
    if isinstance(action, Ask) and isinstance(event, Extraction) and event.step_id == step.id:
        return _answer(definition, state, step, action, event, now, timezone)
    if isinstance(action, CallTool) and isinstance(event, ToolResult) and event.step_id == step.id:
        if event.ok:
            data = dict(state.session_data)
            if action.save_as:
                data[action.save_as] = event.result
            return _run(definition, replace(state, session_data=data), step.next, [])
        if action.on_error:
            return _run(definition, state, action.on_error, [])
        return _hand_off(state, [], f"tool {action.name} failed: {event.error}", None)
    return state, ()


def _answer(
    definition: FlowDefinition,
    state: FlowState,
    step: Step,
    ask: Ask,
    event: CustomerReply | Extraction,
    now: datetime,
    timezone: ZoneInfo,
) -> Advanced:
    if isinstance(event, Extraction):
        candidates = [event.value]
    elif event.reply_id:  # a tap counts only on this question's own options
        candidates = [event.reply_id, event.text] if event.reply_id in _option_ids(ask) else []
    else:
        candidates = [event.text]
    for candidate in (c for c in candidates if c):
        outcome = validate(ask.field, candidate, now, timezone, definition.language)
        if isinstance(outcome, Accepted):
            data = {**state.session_data, ask.field.key: outcome.value}
            return _run(definition, replace(state, session_data=data, retries=0), step.next, [])
    if ask.extract and isinstance(event, CustomerReply) and candidates and event.text.strip():
        return state, (RequestExtraction(step.id, ask.field, event.text),)
    retries = state.retries + 1
    if retries < ask.attempts:
        hint = ask.field.hint_in(definition.language)
        prompt = replace(ask.prompt, text=f"{hint}\n{ask.prompt.text}")
        reply = _ask_reply(ask, prompt, shown(definition, state.session_data))
        return replace(state, retries=retries), (SendReply(reply),)
    if ask.on_fail is OnFail.SKIP:
        return _run(definition, replace(state, retries=0), step.next, [])
    return _hand_off(state, [], f"no valid {ask.field.key} after {retries} answers", None)


def _option_ids(ask: Ask) -> set[str]:
    """What a tap on this question's buttons or list rows comes back as."""
    shown = (*ask.prompt.buttons, *ask.prompt.rows)
    return {o.id for o in shown} | {o.id for o in ask.field.options}


def _run(
    definition: FlowDefinition, state: FlowState, step_id: str, actions: list[Action]
) -> Advanced:
    """Enter `step_id` ("" ends the flow) and go on until the flow waits or ends."""
    for _ in range(MAX_STEPS_PER_ADVANCE):
        if not step_id:
            return _end(state, actions, FlowStatus.COMPLETED)
        step = definition.step(step_id)
        state = replace(state, current_step_id=step_id, retries=0)
        actions.append(StepReached(step_id))
        data = shown(definition, state.session_data)
        action = step.action
        if isinstance(action, Send):
            actions.append(SendReply(_reply(action.message, data)))
            step_id = step.next
        elif isinstance(action, Ask):
            actions.append(SendReply(_ask_reply(action, action.prompt, data)))
            return state, tuple(actions)
        elif isinstance(action, Branch):
            value = fold(state.session_data.get(action.on, ""))
            cases = {fold(case): target for case, target in action.cases.items()}
            step_id = cases.get(value) or action.default or step.next
        elif isinstance(action, CallTool):
            arguments = {k: fill(v, state.session_data) for k, v in action.arguments.items()}
            actions.append(RequestTool(step_id, action.name, arguments))
            return state, tuple(actions)
        elif isinstance(action, HandOff):
            return _hand_off(state, actions, action.reason, action.message)
        else:
            assert isinstance(action, End)
            if action.message is not None:
                actions.append(SendReply(_reply(action.message, data)))
            return _end(state, actions, FlowStatus.COMPLETED)
    return _hand_off(state, actions, "the flow ran too many steps at once", None)


def _expire(definition: FlowDefinition, state: FlowState) -> Advanced:
    expiry = definition.expiry
    actions: list[Action] = []
    if expiry.message:
        shown_data = shown(definition, state.session_data)
        actions.append(SendReply(_reply(Message(expiry.message), shown_data)))
    if expiry.then is ExpiryAction.HAND_OFF:
        actions.append(HandOffToPerson("the flow expired"))
    return _end(state, actions, FlowStatus.EXPIRED)


def _hand_off(
    state: FlowState, actions: list[Action], reason: str, message: Message | None
) -> Advanced:
    if message is not None:
        actions.append(SendReply(_reply(message, state.session_data)))
    actions.append(HandOffToPerson(reason))
    return _end(state, actions, FlowStatus.HANDED_OFF)


def _end(state: FlowState, actions: list[Action], status: FlowStatus) -> Advanced:
    ended = replace(state, status=status, retries=0)
    return ended, (*actions, FlowEnded(status, ended.session_data))


# --- replies --------------------------------------------------------------------------------


def shown(definition: FlowDefinition, data: Mapping[str, str]) -> Mapping[str, str]:
    """The collected data as a message shows it: a choice by its option's title, a date as
    the flow's language writes it (day first but in English: 25/12/2026); the data keeps the
    id and the ISO date, for branches and tools."""
    asked = [s.action.field for s in definition.steps if isinstance(s.action, Ask)]
    titles = {f.key: {o.id: o.title for o in f.options} for f in asked if f.options}
    dates = {f.key for f in asked if f.kind is FieldKind.DATE}
    day_first = not definition.language.lower().startswith("en")
    return {
        key: _day_first(value)
        if key in dates and day_first
        else titles.get(key, {}).get(value, value)
        for key, value in data.items()
    }


def _day_first(iso: str) -> str:
    year, month, day = [*iso.split("-"), "", "", ""][:3]
    return f"{day}/{month}/{year}" if day and month and year else iso


def fill(template: str, data: Mapping[str, str]) -> str:
    """`template` with each `{key}` replaced by its collected value ("" when not collected)."""
    return PLACEHOLDER.sub(lambda found: data.get(found[1], ""), template)


def _reply(message: Message, data: Mapping[str, str]) -> Reply:
    options = message.buttons or message.rows
    kind = "buttons" if message.buttons else "list" if message.rows else "text"
    return repair(
        {
            "kind": kind,
            "text": fill(message.text, data),
            "options": [
                {"id": o.id, "title": fill(o.title, data), "description": o.description}
                for o in options
            ],
            "list_button": message.list_button,
        }
    )


def _ask_reply(ask: Ask, prompt: Message, data: Mapping[str, str]) -> Reply:
    """The question, with a choice's options as buttons, a list or numbered text."""
    if ask.field.kind is not FieldKind.CHOICE or prompt.buttons or prompt.rows:
        return _reply(prompt, data)
    kind = {ShowAs.BUTTONS: "buttons", ShowAs.LIST: "list", ShowAs.TEXT: "text"}[ask.show_as]
    return repair(
        {
            "kind": kind,
            "text": fill(prompt.text, data),
            "options": [
                {"id": o.id, "title": o.title, "description": o.description}
                for o in ask.field.options
            ],
            "list_button": prompt.list_button,
        }
    )
