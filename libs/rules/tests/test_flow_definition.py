"""Flow definitions (issue 12): read from YAML-loaded mappings, every mistake named by its path."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from threadline.rules.fields import DefinitionError, FieldKind
from threadline.rules.flow_definition import (
    DEFAULT_EXPIRY,
    Ask,
    Branch,
    CallTool,
    End,
    ExpiryAction,
    HandOff,
    OnFail,
    Send,
    parse_flow,
)

SALON = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"


def minimal() -> dict[str, Any]:
    return {
        "id": "quiz",
        "steps": [
            {"id": "hello", "send": "Hi!"},
            {"id": "ask", "ask": {"field": "colour", "prompt": "Your colour?"}},
            {"id": "check", "branch": {"field": "colour", "cases": {"red": "red"}}, "next": "bye"},
            {"id": "red", "send": {"text": "Red, {colour}!"}},
            {"id": "bye", "end": None},
        ],
    }


def test_the_salon_s_example_flow_is_accepted() -> None:
    flow = parse_flow(yaml.safe_load(SALON.read_text()))
    assert (flow.id, flow.version) == ("salon-booking", 1)
    assert "book" in flow.trigger.keywords and flow.trigger.button_payloads == ("book",)
    assert flow.expiry.after == timedelta(minutes=30)
    assert flow.expiry.then is ExpiryAction.MESSAGE
    date = flow.step("ask_date").action
    assert isinstance(date, Ask) and date.field.kind is FieldKind.DATE and date.field.future_only

    assert date.on_fail is OnFail.HAND_OFF and date.attempts == 3
    branch = flow.step("check").action
    assert isinstance(branch, Branch)
    assert branch.cases == {"yes": "book", "change": "ask_date", "no": "cancelled"}
    tool = flow.step("book").action
    assert isinstance(tool, CallTool) and tool.on_error == "human" and tool.save_as == "booking"
    assert isinstance(flow.step("human").action, HandOff)
    assert flow.step("ask_confirm").next == "check"  # the step below when next is left out


def test_the_salon_s_portuguese_flow_is_accepted() -> None:
    flow = parse_flow(yaml.safe_load((SALON.parent / "agendamento-flow.yaml").read_text()))
    assert (flow.id, flow.language) == ("salon-booking-pt", "pt")
    assert "agendar" in flow.trigger.keywords and flow.trigger.button_payloads == ("marcar",)
    assert [step.id for step in flow.steps] == [
        step.id for step in parse_flow(yaml.safe_load(SALON.read_text())).steps
    ]


def test_a_minimal_flow_gets_defaults() -> None:
    flow = parse_flow(minimal())
    assert flow.name == "quiz" and flow.version == 1 and flow.expiry == DEFAULT_EXPIRY
    assert flow.language == "en"
    assert flow.trigger.assistant and not flow.trigger.keywords
    assert isinstance(flow.first_step.action, Send)
    assert flow.step("red").next == "bye"
    end = flow.step("bye").action
    assert isinstance(end, End) and end.message is None


def broken(change: str, value: object) -> dict[str, Any]:
    """`minimal()` with the value at a dotted path ("steps.2.branch.cases") set (None deletes)."""
    flow = copy.deepcopy(minimal())
    *parents, last = change.split(".")
    target: Any = flow
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is None:
        del target[key]
    else:
        target[key] = value
    return flow


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (broken("steps.2.next", "confirm"), "steps[2].next: unknown step 'confirm'"),
        (
            broken("steps.2.branch.cases", {"red": "rouge"}),
            "steps[2].branch.cases.red: unknown step 'rouge'",
        ),
        (broken("steps.2.branch.default", "nope"), "steps[2].branch.default: unknown step 'nope'"),
        (broken("steps.3.id", "hello"), "steps[3].id: 'hello' is already a step's id"),
        (broken("steps.3.id", "Red Step"), "steps[3].id: 'Red Step' must be lower-case"),
        (
            broken("steps.3.send", {"text": "{shade}"}),
            "steps[3].send.text: unknown field '{shade}'",
        ),
        (broken("steps.2.branch.field", "shade"), "steps[2].branch.field: unknown field 'shade'"),
        (broken("steps.1.ask.type", "colour"), "steps[1].ask.type: unknown type 'colour'"),
        (broken("steps.1.ask.prompt", None), "steps[1].ask.prompt: is required"),
        (broken("steps.1.ask.attempts", 0), "steps[1].ask.attempts: must be a whole number"),
        (broken("steps.1.ask.on_fail", "cry"), "steps[1].ask.on_fail: unknown 'cry'"),
        (broken("steps.1.ask.colour", 1), "steps[1].ask.colour: unknown key"),
        (broken("steps.0.ask", {"field": "x"}), "steps[0]: needs exactly one of send, ask"),
        (broken("steps.0.send", None), "steps[0]: needs exactly one of send, ask"),
        (broken("steps.4.next", "hello"), "steps[4].next: a end step goes nowhere next"),
        (broken("steps", []), "steps: must be a list of at least one step"),
        (broken("id", "Quiz!"), "id: 'Quiz!' must be lower-case"),
        (broken("version", "1"), "version: must be a whole number from 1"),
        (broken("language", "portuguese"), "language: 'portuguese' is not a language code"),
        (broken("colour", "red"), "colour: unknown key"),
        (broken("expiry", {"after": "soon"}), "expiry.after: 'soon' is not a duration"),
        (broken("expiry", {"after": "5m", "then": "message"}), "expiry.message: is required"),
        (broken("trigger", {"keywords": [1]}), "trigger.keywords: must be a list of words"),
        (
            broken("steps.2.branch.cases", {True: "red"}),
            "steps[2].branch.cases: quote the keys yes, no, on and off",
        ),
        (
            broken("steps.3.send", {"text": "x", "buttons": ["a"], "list": ["b"]}),
            "steps[3].send: buttons or list, not both",
        ),
        (
            broken("steps.3.send", {"text": "x", "buttons": ["a", {"id": "a", "title": "b"}]}),
            "steps[3].send.buttons: option ids must be different",
        ),
        (
            broken("steps.3.send", {"text": "x", "list": [{"id": "i" * 201, "title": "b"}]}),
            "steps[3].send.list[0].id: at most 200 characters",
        ),
        (
            broken(
                "steps.1.ask",
                {
                    "field": "c",
                    "type": "choice",
                    "prompt": "?",
                    "options": [{"id": "i" * 201, "title": "b"}],
                },
            ),
            "steps[1].ask.options[0].id: at most 200 characters",
        ),
    ],
)
def test_a_mistake_is_named_by_its_path(flow: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_flow(flow)
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_step_nothing_reaches_is_refused() -> None:
    flow = broken("steps.2.branch", {"field": "colour", "cases": {"red": "bye"}})
    with pytest.raises(DefinitionError, match=r"^steps\[3\]: 'red' is unreachable$"):
        parse_flow(flow)


def test_a_loop_without_an_ask_is_refused_and_one_through_an_ask_is_not() -> None:
    flow = minimal()
    flow["steps"][3]["next"] = "check"  # red -> check -> red: nothing waits for the customer
    with pytest.raises(DefinitionError) as raised:
        parse_flow(flow)
    assert "loop without an ask: " in str(raised.value)
    assert "check -> red -> check" in str(raised.value) or "red -> check -> red" in str(
        raised.value
    )
    flow["steps"][3]["next"] = "ask"  # red -> ask: the customer answers again
    assert isinstance(parse_flow(flow).step("red").action, Send)


def test_a_tool_loop_with_no_ask_is_a_loop_too() -> None:
    flow = {
        "id": "retry",
        "steps": [
            {"id": "call", "tool": {"name": "ping", "on_error": "again"}, "next": "done"},
            {"id": "again", "send": "Trying again", "next": "call"},
            {"id": "done", "end": "Done"},
        ],
    }
    with pytest.raises(DefinitionError, match="loop without an ask"):
        parse_flow(flow)
