"""A flow file's text → its definition and canonical JSON: the same definition written
differently is the same JSON; the numbers it runs on and how it starts are read and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline.rules.fields import DefinitionError
from threadline.rules.flow_files import read_flow

SALON_FILE = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"
SALON = SALON_FILE.read_text(encoding="utf-8")
SMALL = 'id: greet\nsteps:\n  - {id: done, end: {text: "Hi!"}}\n'


def test_the_same_definition_written_differently_is_the_same_json() -> None:
    block, canonical = read_flow(SALON)
    as_json, again = read_flow(json.dumps(json.loads(canonical), indent=2))
    reordered = read_flow("steps:\n  - end: {text: 'Hi!'}\n    id: done\nid: greet  # hi\n")[1]

    assert again == canonical and as_json == block
    assert reordered == read_flow(SMALL)[1]
    assert read_flow(SMALL.replace("Hi!", "Hello!"))[1] != read_flow(SMALL)[1]


def test_the_numbers_and_triggers_are_read() -> None:
    salon, _ = read_flow(SALON)
    numbered, _ = read_flow(SMALL + "business_numbers: ['2', 1]\ntrigger: {first_message: true}\n")

    assert salon.business_numbers == ()
    assert salon.trigger.kinds == ("keyword", "button_payload", "assistant")
    assert numbered.business_numbers == ("1", "2")
    assert numbered.trigger.kinds == ("first_message", "assistant")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("business_numbers: 109\n", "business_numbers: must be a list of phone_number_ids"),
        ("business_numbers: ['+1 555']\n", "business_numbers[0]: must be a phone_number_id"),
        ("business_numbers: ['1', '1']\n", "business_numbers[1]: '1' is listed twice"),
    ],
)
def test_bad_numbers_are_named_by_their_path(extra: str, expected: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        read_flow(SMALL + extra)

    assert str(raised.value) == expected


def test_text_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(DefinitionError, match="not YAML or JSON"):
        read_flow("id: [unclosed\n")
