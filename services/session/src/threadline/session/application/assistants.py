"""Configuring assistants: create or update one by name, and assign its business numbers
(a number is served by at most one assistant; the caller must cover every number touched)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from threadline.session.application.fact_handlers import business_number
from threadline.session.application.unit_of_work import UnitOfWork
from threadline.session.domain.assistant import Assistant, AssistantSettings, assistant_id
from threadline.session.domain.errors import NumbersNotCovered, NumberTaken


@dataclass(frozen=True, slots=True)
class AssistantView:
    settings: AssistantSettings
    version: int


@dataclass(frozen=True, slots=True)
class ConfigureOutcome:
    assistant: AssistantView
    created: bool
    changed: bool


def view(assistant: Assistant) -> AssistantView:
    return AssistantView(assistant.settings(), assistant.settings_version)


def configure_assistant(
    unit: UnitOfWork, settings: AssistantSettings, may_serve: Callable[[str], bool]
) -> ConfigureOutcome:
    """Create or update the assistant named in `settings`; identical settings change nothing.
    `may_serve(number)` says whether the caller may act on a number: it must cover the
    numbers the assistant serves now and the ones it is to serve."""
    assistant = unit.get(assistant_id(settings.name), Assistant)
    before = set(assistant.business_numbers) if assistant is not None else set()
    after = set(settings.business_numbers)
    uncovered = sorted(n for n in before | after if not may_serve(n))
    if uncovered:
        raise NumbersNotCovered(settings.name, uncovered)
    for number in sorted(after - before):
        serving = business_number(unit, number).assistant
        if serving and serving != settings.name:
            raise NumberTaken(number, serving)
    created = assistant is None
    if assistant is None:
        assistant = Assistant(settings.name)
        unit.add(assistant)
    changed = assistant.configure(settings)
    for number in sorted(after - before):
        business_number(unit, number).assign_assistant(number, settings.name)
    for number in sorted(before - after):
        released = business_number(unit, number)
        if released.assistant == settings.name:
            released.assign_assistant(number, "")
    return ConfigureOutcome(view(assistant), created, changed)


def visible(assistant: Assistant, numbers: frozenset[str] | None) -> bool:
    """Listed to a caller on every number (`numbers` None), or serving one of its numbers."""
    return numbers is None or not numbers.isdisjoint(assistant.business_numbers)
