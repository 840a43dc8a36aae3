"""A WhatsApp business number: its autopilot switch, templates, auto-resolution and the
assistant serving it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.servicekit.errors import quoted
from threadline.session.domain.errors import DomainError, InvalidMessage
from threadline.session.domain.identity import NAMESPACE

CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")
DEFAULT_AUTO_RESOLVE_HOURS = 12
MAX_AUTO_RESOLVE_HOURS = 30 * 24


class TemplateNotFound(DomainError):
    def __init__(self, name: str, language: str) -> None:
        super().__init__(
            f"template {quoted(name)} ({language[:32]}) is not registered for this number"
        )


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str
    category: str
    body: str
    parameter_count: int


def count_parameters(body: str) -> int:
    """`{{1}}`…`{{n}}` must be numbered from 1 without gaps; n is the count."""
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(body)})
    if numbers != list(range(1, len(numbers) + 1)):
        raise InvalidMessage(f"template placeholders must run {{{{1}}}}..{{{{n}}}}, got {numbers}")
    return len(numbers)


class BusinessNumber(Aggregate):
    """Settings of one business number; created on first use with the defaults."""

    @staticmethod
    def create_id(phone_number_id: str) -> UUID:
        return business_number_id(phone_number_id)

    @event("Registered")
    def __init__(self, phone_number_id: str) -> None:
        self.phone_number_id = phone_number_id
        self.autopilot = True
        self.auto_resolve_hours = DEFAULT_AUTO_RESOLVE_HOURS
        self.templates: dict[str, dict[str, str | int]] = {}
        self.assistant = ""  # the name of the assistant serving this number, if any

    @event("AutopilotSet")
    def set_autopilot(self, enabled: bool) -> None:
        self.autopilot = enabled

    @event("AssistantAssigned")
    def assign_assistant(self, phone_number_id: str, assistant: str) -> None:
        """Served by this assistant from now on (empty: by none)."""
        self.assistant = assistant

    @event("AutoResolutionSet")
    def set_auto_resolution(self, hours: int) -> None:
        self.auto_resolve_hours = hours

    def resolve_after(self, hours: int) -> None:
        """Resolve open conversations idle for `hours` (1 to 30 days' worth); the same value
        records nothing."""
        if not 1 <= hours <= MAX_AUTO_RESOLVE_HOURS:
            raise InvalidMessage(
                f"hours must be between 1 and {MAX_AUTO_RESOLVE_HOURS}, got {hours}"
            )
        if hours != self.auto_resolve_hours:
            self.set_auto_resolution(hours)

    def register_template(self, *, name: str, language: str, category: str, body: str) -> None:
        category = category.upper()
        if category not in CATEGORIES:
            raise InvalidMessage(
                f"category must be one of {sorted(CATEGORIES)}, got {quoted(category)}"
            )
        if not name or not language or not body.strip():
            raise InvalidMessage("a template needs a name, a language and a body")
        self._template_registered(name, language, category, body, count_parameters(body))

    @event("TemplateRegistered")
    def _template_registered(
        self, name: str, language: str, category: str, body: str, parameter_count: int
    ) -> None:
        self.templates[f"{name}:{language}"] = {
            "name": name,
            "language": language,
            "category": category,
            "body": body,
            "parameter_count": parameter_count,
        }

    def template(self, name: str, language: str) -> Template:
        found = self.templates.get(f"{name}:{language}")
        if found is None:
            raise TemplateNotFound(name, language)
        return _template(found)

    def all_templates(self) -> list[Template]:
        return sorted(
            (_template(t) for t in self.templates.values()), key=lambda t: (t.name, t.language)
        )


@lru_cache(maxsize=4096)
def business_number_id(phone_number_id: str) -> UUID:
    return uuid5(NAMESPACE, f"business-number:{phone_number_id}")


def _template(raw: dict[str, str | int]) -> Template:
    return Template(
        name=str(raw["name"]),
        language=str(raw["language"]),
        category=str(raw["category"]),
        body=str(raw["body"]),
        parameter_count=int(raw["parameter_count"]),
    )
