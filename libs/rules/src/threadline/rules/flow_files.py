"""A flow file's text (YAML, or JSON, which YAML reads too) → its checked definition and the
canonical JSON the session keeps and sends: the same definition written differently (comments,
key order, flow or block style) is the same JSON, so applying it again changes nothing."""

from __future__ import annotations

import json
from typing import Final

import yaml

from threadline.rules.fields import DefinitionError
from threadline.rules.flow_definition import FlowDefinition, parse_flow

MAX_FLOW_TEXT: Final = 256 * 1024  # characters of a flow file


def read_flow(text: str) -> tuple[FlowDefinition, str]:
    """The flow `text` defines and its canonical JSON, or a `DefinitionError` naming the path."""
    if len(text) > MAX_FLOW_TEXT:
        raise DefinitionError("", f"the flow is {len(text)} characters, at most {MAX_FLOW_TEXT}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError("", f"not YAML or JSON: {error}") from error
    definition = parse_flow(raw)
    return definition, canonical_json(raw)


def canonical_json(raw: object) -> str:
    """`raw` (a loaded flow) as JSON with sorted keys and no spaces; values YAML reads as other
    than text, numbers, booleans, lists and mappings (a bare date) are written as text."""
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
