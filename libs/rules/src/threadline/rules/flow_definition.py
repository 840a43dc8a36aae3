"""A flow's definition: what starts it, when it expires, and its steps, read from a YAML-loaded
mapping and checked before it is ever run.

```yaml
id: salon-booking            # lower-case letters, digits, "-" and "_"
name: Book an appointment
version: 1
language: pt_BR              # of the fields' default hints (en, pt, es; others read English)
business_numbers: ["109000000000001"]  # the numbers it runs on (phone_number_id; none: all)
trigger:                     # any of these; a flow with none is started by the assistant only
  keywords: [book, agendar]  # a whole word of the customer's text (case and accents ignored)
  first_message: false       # the conversation's first customer message
  button_payloads: [book]    # a tapped button or list row with this id
  assistant: true            # the assistant may start it (default true)
expiry:
  after: 30m                 # since the customer's last answer: 90s, 30m, 2h, 1d or seconds
  then: message              # end | hand_off | message (sends `message`, then ends)
  message: "..."
steps:                       # the first step is where the flow starts
  - id: hello
    send: {text: "Hi {name}!", buttons: [...], list: [...], list_button: "..."}
    next: ask_date           # optional everywhere: the step below, or the end of the flow
  - id: ask_date
    ask: {field: date, type: date, future_only: true, prompt: "Which day?", hint: "...",
          attempts: 3, on_fail: hand_off, extract: false, show_as: buttons}
  - id: check
    branch: {field: confirm, cases: {"yes": book, "no": ask_date}, default: human}
  - id: book
    tool: {name: book_appointment, arguments: {date: "{date}"}, save_as: booking,
           on_error: human}
  - id: done
    end: {text: "Booked: {booking}"}
  - id: human
    hand_off: {reason: "booking failed", text: "A person will help you."}
```

`{key}` in a text or a tool argument is the collected value of `key` ("" when skipped); every key
must be one an ask collects (or a tool saves). `parse_flow` raises `DefinitionError` naming the
path of the first problem: unknown keys and types, unknown step references
(`steps[2].next: unknown step 'confirm'`), duplicate ids, steps nothing reaches, and loops a
customer could not break (a cycle of steps without an ask).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final, TypeVar

from threadline.rules import whatsapp_limits as limits
from threadline.rules.fields import (
    DefinitionError,
    FieldSpec,
    mapping,
    parse_field,
    text_at,
)
from threadline.rules.options import Option

LANGUAGE: Final = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,4})?")
IDENTIFIER: Final = re.compile(r"[a-z0-9][a-z0-9_-]*")
PLACEHOLDER: Final = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
DURATION: Final = re.compile(r"(\d+)\s*(s|m|h|d)?")
UNITS: Final[Mapping[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ExpiryAction(StrEnum):
    END = "end"
    HAND_OFF = "hand_off"
    MESSAGE = "message"


class OnFail(StrEnum):
    """What an ask does once its attempts are used up."""

    HAND_OFF = "hand_off"
    SKIP = "skip"


class ShowAs(StrEnum):
    """How an ask for a choice shows its options (reply_format repairs what does not fit)."""

    BUTTONS = "buttons"
    LIST = "list"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Trigger:
    keywords: tuple[str, ...] = ()
    first_message: bool = False
    button_payloads: tuple[str, ...] = ()
    assistant: bool = True

    @property
    def kinds(self) -> tuple[str, ...]:
        """How the flow starts: keyword, first_message, button_payload, assistant."""
        given = (
            ("keyword", bool(self.keywords)),
            ("first_message", self.first_message),
            ("button_payload", bool(self.button_payloads)),
            ("assistant", self.assistant),
        )
        return tuple(kind for kind, present in given if present)


@dataclass(frozen=True, slots=True)
class Expiry:
    after: timedelta
    then: ExpiryAction = ExpiryAction.END
    message: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """What a step says: text with `{key}` placeholders, and buttons or list rows under it."""

    text: str
    buttons: tuple[Option, ...] = ()
    rows: tuple[Option, ...] = ()
    list_button: str = ""


@dataclass(frozen=True, slots=True)
class Send:
    message: Message


@dataclass(frozen=True, slots=True)
class Ask:
    field: FieldSpec
    prompt: Message
    attempts: int = 3  # answers refused before `on_fail`
    on_fail: OnFail = OnFail.HAND_OFF
    extract: bool = False  # a refused answer goes to the model to extract the value first
    show_as: ShowAs = ShowAs.BUTTONS


@dataclass(frozen=True, slots=True)
class Branch:
    on: str  # a collected key (`field:` in YAML, where a bare `on` reads as true)
    cases: Mapping[str, str]  # value (case-insensitive) -> step id
    default: str = ""  # "" continues with `next`


@dataclass(frozen=True, slots=True)
class CallTool:
    name: str
    arguments: Mapping[str, str]  # templates
    save_as: str = ""
    on_error: str = ""  # "" hands off


@dataclass(frozen=True, slots=True)
class HandOff:
    reason: str
    message: Message | None = None


@dataclass(frozen=True, slots=True)
class End:
    message: Message | None = None


StepAction = Send | Ask | Branch | CallTool | HandOff | End
STEP_KINDS: Final = ("send", "ask", "branch", "tool", "hand_off", "end")


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    action: StepAction
    next: str = ""  # "" ends the flow (after send, ask or tool)


@dataclass(frozen=True, slots=True)
class FlowDefinition:
    id: str
    name: str
    version: int
    language: str  # of the hints the engine shows when a field has none of its own
    trigger: Trigger
    expiry: Expiry
    steps: tuple[Step, ...]
    # The business numbers (phone_number_id) it runs on, sorted; none: every number.
    business_numbers: tuple[str, ...] = ()

    @property
    def first_step(self) -> Step:
        return self.steps[0]

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


E = TypeVar("E", bound=StrEnum)
DEFAULT_EXPIRY: Final = Expiry(timedelta(hours=1))
TOP_KEYS: Final = (
    "id", "name", "version", "language", "business_numbers", "trigger", "expiry", "steps",
)  # fmt: skip
NUMBER: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a phone_number_id, as the session's
MAX_NUMBERS: Final = 100


def parse_flow(raw: object) -> FlowDefinition:
    """The flow `raw` (a YAML-loaded mapping) defines, or a `DefinitionError` naming the path."""
    top = mapping(raw, "flow")
    _known(top, (*TOP_KEYS,), "")
    flow_id = text_at(top, "id", "", required=True)
    if IDENTIFIER.fullmatch(flow_id) is None:
        raise DefinitionError("id", f"'{flow_id}' must be lower-case letters, digits, - and _")
    version = top.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DefinitionError("version", "must be a whole number from 1")
    language = text_at(top, "language", "") or "en"
    if LANGUAGE.fullmatch(language) is None:
        raise DefinitionError("language", f"'{language}' is not a language code like en or pt_BR")
    raw_steps = top.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError("steps", "must be a list of at least one step")
    steps = _steps(raw_steps)
    flow = FlowDefinition(
        id=flow_id,
        name=text_at(top, "name", "") or flow_id,
        version=version,
        language=language,
        trigger=_trigger(top.get("trigger")),
        expiry=_expiry(top.get("expiry")),
        steps=steps,
        business_numbers=_numbers(top.get("business_numbers")),
    )
    _check(flow)
    return flow


def successors(step: Step) -> tuple[str, ...]:
    """The steps `step` may go to ("" is the end of the flow)."""
    action = step.action
    if isinstance(action, HandOff | End):
        return ()
    if isinstance(action, Branch):
        return (*action.cases.values(), action.default or step.next)
    if isinstance(action, CallTool) and action.on_error:
        return (step.next, action.on_error)
    return (step.next,)


# --- reading ----------------------------------------------------------------------------------


def _steps(raw_steps: list[object]) -> tuple[Step, ...]:
    fields = [mapping(raw, f"steps[{index}]") for index, raw in enumerate(raw_steps)]
    ids = [
        text_at(step, "id", f"steps[{index}]", required=True) for index, step in enumerate(fields)
    ]
    for index, step_id in enumerate(ids):
        if IDENTIFIER.fullmatch(step_id) is None:
            problem = f"'{step_id}' must be lower-case letters, digits, - and _"
            raise DefinitionError(f"steps[{index}].id", problem)
        if step_id in ids[:index]:
            raise DefinitionError(f"steps[{index}].id", f"'{step_id}' is already a step's id")
    steps: list[Step] = []
    for index, step in enumerate(fields):
        path = f"steps[{index}]"
        kinds = [kind for kind in STEP_KINDS if kind in step]
        if len(kinds) != 1:
            raise DefinitionError(path, f"needs exactly one of {', '.join(STEP_KINDS)}")
        _known(step, ("id", "next", kinds[0]), path)
        action = _action(kinds[0], step[kinds[0]], f"{path}.{kinds[0]}", ids)
        following = ids[index + 1] if index + 1 < len(ids) else ""
        next_id = text_at(step, "next", path) if "next" in step else following
        if isinstance(action, HandOff | End) and "next" in step:
            raise DefinitionError(f"{path}.next", f"a {kinds[0]} step goes nowhere next")
        if next_id and next_id not in ids:
            raise DefinitionError(f"{path}.next", f"unknown step '{next_id}'")
        steps.append(Step(ids[index], action, next_id))
    return tuple(steps)


def _action(kind: str, raw: object, path: str, ids: list[str]) -> StepAction:
    if kind == "send":
        return Send(_message(raw, path))
    if kind == "ask":
        return _ask(raw, path)
    if kind == "branch":
        return _branch(raw, path, ids)
    if kind == "tool":
        return _tool(raw, path, ids)
    if kind == "hand_off":
        fields = mapping(raw, path)
        _known(fields, ("reason", "text", "buttons", "list", "list_button"), path)
        reason = text_at(fields, "reason", path) or "the flow hands off"
        return HandOff(reason, _message(raw, path) if "text" in fields else None)
    return End(None if raw is None else _message(raw, path))


def _message(raw: object, path: str) -> Message:
    if isinstance(raw, str):
        raw = {"text": raw}
    fields = mapping(raw, path)
    text = text_at(fields, "text", path, required=True)
    buttons = _options(fields.get("buttons"), f"{path}.buttons")
    rows = _options(fields.get("list"), f"{path}.list")
    if buttons and rows:
        raise DefinitionError(path, "buttons or list, not both")
    return Message(text, buttons, rows, text_at(fields, "list_button", path))


def _options(raw: object, path: str) -> tuple[Option, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise DefinitionError(path, "must be a list of at least one option")
    options: list[Option] = []
    for index, item in enumerate(raw):
        at = f"{path}[{index}]"
        fields = {"title": item} if isinstance(item, str) else mapping(item, at)
        title = text_at(fields, "title", at, required=True)
        option_id = text_at(fields, "id", at) or title
        options.append(Option(option_id, title, text_at(fields, "description", at)))
    if len({option.id for option in options}) != len(options):
        raise DefinitionError(path, "option ids must be different")
    for index, option in enumerate(options):
        if len(option.id) > limits.ROW_ID:  # WhatsApp's limit on what a tap comes back as
            raise DefinitionError(f"{path}[{index}].id", f"at most {limits.ROW_ID} characters")
    return tuple(options)


def _ask(raw: object, path: str) -> Ask:
    fields = mapping(raw, path)
    _known(fields, (*ASK_OWN, *FIELD_KEYS), path)
    spec = parse_field({k: v for k, v in fields.items() if k not in ASK_OWN}, path)
    if fields.get("prompt") is None:
        raise DefinitionError(f"{path}.prompt", "is required")
    attempts = fields.get("attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise DefinitionError(f"{path}.attempts", "must be a whole number from 1")
    extract = fields.get("extract", False)
    if not isinstance(extract, bool):
        raise DefinitionError(f"{path}.extract", "must be true or false")
    return Ask(
        field=spec,
        prompt=_message(fields["prompt"], f"{path}.prompt"),
        attempts=attempts,
        on_fail=_enum(OnFail, fields, "on_fail", path, OnFail.HAND_OFF),
        extract=extract,
        show_as=_enum(ShowAs, fields, "show_as", path, ShowAs.BUTTONS),
    )


ASK_OWN: Final = ("prompt", "attempts", "on_fail", "extract", "show_as")
FIELD_KEYS: Final = (
    "field", "type", "hint", "options", "future_only", "country_code", "minimum", "maximum",
    "integer", "max_length",
)  # fmt: skip


def _branch(raw: object, path: str, ids: list[str]) -> Branch:
    fields = mapping(raw, path)
    _known(fields, ("field", "cases", "default"), path)
    on = text_at(fields, "field", path, required=True)
    cases = mapping(fields.get("cases"), f"{path}.cases")
    if not cases:
        raise DefinitionError(f"{path}.cases", "needs at least one case")
    targets: dict[str, str] = {}
    for value in cases:
        step_id = text_at(cases, value, f"{path}.cases", required=True)
        if step_id not in ids:
            raise DefinitionError(f"{path}.cases.{value}", f"unknown step '{step_id}'")
        targets[value.casefold()] = step_id
    default = text_at(fields, "default", path)
    if default and default not in ids:
        raise DefinitionError(f"{path}.default", f"unknown step '{default}'")
    return Branch(on, targets, default)


def _tool(raw: object, path: str, ids: list[str]) -> CallTool:
    fields = mapping(raw, path)
    _known(fields, ("name", "arguments", "save_as", "on_error"), path)
    arguments = mapping(fields.get("arguments", {}), f"{path}.arguments")
    on_error = text_at(fields, "on_error", path)
    if on_error and on_error not in ids:
        raise DefinitionError(f"{path}.on_error", f"unknown step '{on_error}'")
    return CallTool(
        name=text_at(fields, "name", path, required=True),
        arguments={k: text_at(arguments, k, f"{path}.arguments") for k in arguments},
        save_as=text_at(fields, "save_as", path),
        on_error=on_error,
    )


def _trigger(raw: object) -> Trigger:
    if raw is None:
        return Trigger()
    fields = mapping(raw, "trigger")
    _known(fields, ("keywords", "first_message", "button_payloads", "assistant"), "trigger")
    return Trigger(
        keywords=_words(fields.get("keywords"), "trigger.keywords"),
        first_message=_flag(fields, "first_message", "trigger", default=False),
        button_payloads=_words(fields.get("button_payloads"), "trigger.button_payloads"),
        assistant=_flag(fields, "assistant", "trigger", default=True),
    )


def _expiry(raw: object) -> Expiry:
    if raw is None:
        return DEFAULT_EXPIRY
    fields = mapping(raw, "expiry")
    _known(fields, ("after", "then", "message"), "expiry")
    after = text_at(fields, "after", "expiry", required=True)
    found = DURATION.fullmatch(after)
    if found is None or int(found[1]) == 0:
        raise DefinitionError("expiry.after", f"'{after}' is not a duration like 30m, 2h, 1d")
    then = _enum(ExpiryAction, fields, "then", "expiry", ExpiryAction.END)
    message = text_at(fields, "message", "expiry")
    if then is ExpiryAction.MESSAGE and not message:
        raise DefinitionError("expiry.message", "is required when then is message")
    seconds = int(found[1]) * UNITS[found[2] or "s"]
    return Expiry(timedelta(seconds=seconds), then, message)


def _numbers(raw: object) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise DefinitionError("business_numbers", "must be a list of phone_number_ids")
    if len(raw) > MAX_NUMBERS:
        raise DefinitionError("business_numbers", f"has {len(raw)} numbers, at most {MAX_NUMBERS}")
    numbers: list[str] = []
    for index, item in enumerate(raw):
        number = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        if not isinstance(number, str) or NUMBER.fullmatch(number) is None:
            raise DefinitionError(f"business_numbers[{index}]", "must be a phone_number_id")
        if number in numbers:
            raise DefinitionError(f"business_numbers[{index}]", f"'{number}' is listed twice")
        numbers.append(number)
    return tuple(sorted(numbers))


def _words(raw: object, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise DefinitionError(path, "must be a list of words")
    return tuple(str(item).strip() for item in items)


def _flag(fields: Mapping[str, object], key: str, path: str, *, default: bool) -> bool:
    value = fields.get(key, default)
    if not isinstance(value, bool):
        raise DefinitionError(f"{path}.{key}", "must be true or false")
    return value


def _enum(kind: type[E], fields: Mapping[str, object], key: str, path: str, default: E) -> E:
    name = text_at(fields, key, path)
    if not name:
        return default
    try:
        return kind(name)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise DefinitionError(f"{path}.{key}", f"unknown '{name}' ({known})") from None


def _known(fields: Mapping[str, object], keys: tuple[str, ...], path: str) -> None:
    for key in fields:
        if key not in keys:
            raise DefinitionError(f"{path}.{key}" if path else key, "unknown key")


# --- checking ---------------------------------------------------------------------------------


def _check(flow: FlowDefinition) -> None:
    index = {step.id: position for position, step in enumerate(flow.steps)}
    collected = _collected(flow)
    for position, step in enumerate(flow.steps):
        path = f"steps[{position}]"
        for where, template in _templates(step):
            for key in PLACEHOLDER.findall(template):
                if key not in collected:
                    raise DefinitionError(f"{path}.{where}", f"unknown field '{{{key}}}'")
        if isinstance(step.action, Branch) and step.action.on not in collected:
            raise DefinitionError(f"{path}.branch.field", f"unknown field '{step.action.on}'")
    reached = {flow.first_step.id}
    waiting = [flow.first_step]
    while waiting:
        for target in successors(waiting.pop()):
            if target and target not in reached:
                reached.add(target)
                waiting.append(flow.step(target))
    for step in flow.steps:
        if step.id not in reached:
            raise DefinitionError(f"steps[{index[step.id]}]", f"'{step.id}' is unreachable")
    _check_loops(flow, index)


def _check_loops(flow: FlowDefinition, index: Mapping[str, int]) -> None:
    """A cycle through steps none of which waits for the customer would never stop."""
    graph = {
        step.id: [t for t in successors(step) if t and not isinstance(flow.step(t).action, Ask)]
        for step in flow.steps
        if not isinstance(step.action, Ask)
    }
    done: set[str] = set()
    for start in graph:
        _visit(start, graph, [], done, index)


def _visit(
    step_id: str,
    graph: Mapping[str, list[str]],
    trail: list[str],
    done: set[str],
    index: Mapping[str, int],
) -> None:
    """Depth first from `step_id`; `trail` is the path that led here."""
    if step_id in trail:
        loop = " -> ".join([*trail[trail.index(step_id) :], step_id])
        raise DefinitionError(f"steps[{index[step_id]}]", f"loop without an ask: {loop}")
    if step_id in done:
        return
    trail.append(step_id)
    for target in graph[step_id]:
        _visit(target, graph, trail, done, index)
    trail.pop()
    done.add(step_id)


def _collected(flow: FlowDefinition) -> set[str]:
    keys: set[str] = set()
    for step in flow.steps:
        if isinstance(step.action, Ask):
            keys.add(step.action.field.key)
        elif isinstance(step.action, CallTool) and step.action.save_as:
            keys.add(step.action.save_as)
    return keys


def _templates(step: Step) -> list[tuple[str, str]]:
    action = step.action
    if isinstance(action, Send):
        return _message_templates("send", action.message)
    if isinstance(action, Ask):
        return _message_templates("ask.prompt", action.prompt)
    if isinstance(action, CallTool):
        return [(f"tool.arguments.{k}", v) for k, v in action.arguments.items()]
    if isinstance(action, HandOff | End) and action.message is not None:
        kind = "hand_off" if isinstance(action, HandOff) else "end"
        return _message_templates(kind, action.message)
    return []


def _message_templates(path: str, message: Message) -> list[tuple[str, str]]:
    options = [(f"{path}.options", o.title) for o in (*message.buttons, *message.rows)]
    return [(f"{path}.text", message.text), *options]
