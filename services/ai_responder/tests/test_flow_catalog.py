"""The AI responder's view of flows, folded from the session's `FlowConfigured` events: the
newest version of each flow, found by the number it runs on; an older or repeated version, or a
definition that does not read, changes nothing."""

from __future__ import annotations

import json

from threadline.ai_responder.domain.flow_catalog import FlowCatalog

NUMBER_A, NUMBER_B = "109000000000001", "109000000000002"


def definition(flow_id: str, *, numbers: tuple[str, ...] = (), text: str = "Hi!") -> str:
    raw: dict[str, object] = {"id": flow_id, "steps": [{"id": "done", "end": {"text": text}}]}
    if numbers:
        raw["business_numbers"] = list(numbers)
    return json.dumps(raw)


def test_the_newest_version_is_kept_and_an_older_one_changes_nothing() -> None:
    catalog = FlowCatalog()

    assert catalog.flow_configured(1, definition("greet", text="Hi!"))
    assert catalog.flow_configured(2, definition("greet", text="Hello!"))
    assert not catalog.flow_configured(1, definition("greet", text="Hi!"))
    assert not catalog.flow_configured(2, definition("greet", text="Hello!"))

    kept = catalog.flow("greet")
    assert kept is not None and kept.version == 2
    assert "Hello!" in repr(kept.definition.first_step)


def test_flows_are_found_by_the_number_they_run_on() -> None:
    catalog = FlowCatalog()
    catalog.flow_configured(1, definition("everywhere"))
    catalog.flow_configured(1, definition("only-b", numbers=(NUMBER_B,)))

    assert [d.id for d in catalog.flows_for(NUMBER_A)] == ["everywhere"]
    assert [d.id for d in catalog.flows_for(NUMBER_B)] == ["everywhere", "only-b"]
    assert [f.id for f in catalog.flows()] == ["everywhere", "only-b"]


def test_a_definition_that_does_not_read_is_skipped() -> None:
    catalog = FlowCatalog()

    assert not catalog.flow_configured(1, "{not json")
    assert not catalog.flow_configured(1, json.dumps({"id": "x", "steps": []}))
    assert catalog.flows() == []
