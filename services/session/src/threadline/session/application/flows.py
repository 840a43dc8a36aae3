"""Configuring flows: create or update one by id (a definition identical to the last changes
nothing), and list the flows that run on a caller's numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.errors import NumbersNotCovered
from threadline.session.domain.flow import Flow, FlowSettings, flow_aggregate_id


@dataclass(frozen=True, slots=True)
class FlowView:
    settings: FlowSettings
    version: int


@dataclass(frozen=True, slots=True)
class ConfigureFlowOutcome:
    flow: FlowView
    created: bool
    changed: bool


def view(flow: Flow) -> FlowView:
    return FlowView(flow.settings(), flow.settings_version)


def configure_flow(
    unit: UnitOfWork, settings: FlowSettings, may_serve: Callable[[str], bool], every: bool
) -> ConfigureFlowOutcome:
    """Create or update the flow `settings` defines. The caller must cover the numbers the
    flow runs on now and the ones it is to run on (`may_serve`); a flow on every number (no
    `business_numbers`) only a caller on every number (`every`) may configure."""
    flow = unit.get(flow_aggregate_id(settings.id), Flow)
    before = set(flow.business_numbers) if flow is not None else set()
    after = set(settings.business_numbers)
    uncovered = sorted(n for n in before | after if not may_serve(n))
    if not every and (not after or (flow is not None and not before)):
        uncovered.insert(0, "*")
    if uncovered:
        raise NumbersNotCovered(settings.id, uncovered, what="flow")
    if flow is None:
        flow = Flow.of(settings)
        unit.add(flow)
        return ConfigureFlowOutcome(view(flow), created=True, changed=True)
    changed = flow.configure(settings)
    return ConfigureFlowOutcome(view(flow), created=False, changed=changed)


def visible(flow: Flow, numbers: frozenset[str] | None) -> bool:
    """Listed to a caller on every number (`numbers` None); else a flow on one of its numbers
    or on every number."""
    return (
        numbers is None
        or not flow.business_numbers
        or not numbers.isdisjoint(flow.business_numbers)
    )
