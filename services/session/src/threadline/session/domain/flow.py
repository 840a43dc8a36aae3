"""A flow: a business's scripted conversation (the definition in `threadline.rules`), kept with
history. Every real change is a new version, stored as an event the AI responder builds its
view of flows from; applying the same definition again changes nothing.

A flow is keyed by its id (one namespace per platform) and is never removed: a new version
replaces the last. The definition is kept as canonical JSON (`threadline.rules.flow_files`),
checked by the same parser the AI responder runs it with, so what the session accepted runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.rules.fields import DefinitionError
from threadline.rules.flow_files import read_flow
from threadline.session.domain.errors import InvalidConfiguration
from threadline.session.domain.identity import NAMESPACE


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """A checked definition: its canonical JSON and what it says in short."""

    id: str
    name: str
    definition_version: int  # the definition's own `version:`
    trigger_kinds: tuple[str, ...]
    business_numbers: tuple[str, ...]  # sorted; none: every number
    definition_json: str

    @classmethod
    def from_text(cls, text: str) -> FlowSettings:
        """The flow `text` (YAML or JSON) defines; `InvalidConfiguration` naming the path of
        the first problem (`steps[2].next: unknown step 'confirm'`)."""
        try:
            definition, canonical = read_flow(text)
        except DefinitionError as error:
            raise InvalidConfiguration(f"flow definition: {error}") from error
        return cls(
            id=definition.id,
            name=definition.name,
            definition_version=definition.version,
            trigger_kinds=definition.trigger.kinds,
            business_numbers=definition.business_numbers,
            definition_json=canonical,
        )


class Flow(Aggregate):
    """One flow's definition and its version (1 on creation, +1 a real change)."""

    @staticmethod
    def create_id(flow_id: str) -> UUID:
        return flow_aggregate_id(flow_id)

    @event("Defined")
    def __init__(
        self,
        flow_id: str,
        name: str,
        definition_version: int,
        trigger_kinds: list[str],
        business_numbers: list[str],
        definition_json: str,
    ) -> None:
        self.flow_id = flow_id
        self.settings_version = 1
        self._apply(name, definition_version, trigger_kinds, business_numbers, definition_json)

    @classmethod
    def of(cls, settings: FlowSettings) -> Flow:
        return cls(
            flow_id=settings.id,
            name=settings.name,
            definition_version=settings.definition_version,
            trigger_kinds=list(settings.trigger_kinds),
            business_numbers=list(settings.business_numbers),
            definition_json=settings.definition_json,
        )

    def settings(self) -> FlowSettings:
        return FlowSettings(
            id=self.flow_id,
            name=self.name,
            definition_version=self.definition_version,
            trigger_kinds=tuple(self.trigger_kinds),
            business_numbers=tuple(self.business_numbers),
            definition_json=self.definition_json,
        )

    def configure(self, settings: FlowSettings) -> bool:
        """Apply `settings` (of this flow's id); False when the definition is already this."""
        if settings == self.settings():
            return False
        self._redefined(
            flow_id=self.flow_id,
            version=self.settings_version + 1,
            name=settings.name,
            definition_version=settings.definition_version,
            trigger_kinds=list(settings.trigger_kinds),
            business_numbers=list(settings.business_numbers),
            definition_json=settings.definition_json,
        )
        return True

    @event("Redefined")
    def _redefined(
        self,
        flow_id: str,
        version: int,
        name: str,
        definition_version: int,
        trigger_kinds: list[str],
        business_numbers: list[str],
        definition_json: str,
    ) -> None:
        self.settings_version = version
        self._apply(name, definition_version, trigger_kinds, business_numbers, definition_json)

    def _apply(
        self,
        name: str,
        definition_version: int,
        trigger_kinds: list[str],
        business_numbers: list[str],
        definition_json: str,
    ) -> None:
        self.name = name
        self.definition_version = definition_version
        self.trigger_kinds = list(trigger_kinds)
        self.business_numbers = list(business_numbers)
        self.definition_json = definition_json


@lru_cache(maxsize=1024)
def flow_aggregate_id(flow_id: str) -> UUID:
    return uuid5(NAMESPACE, f"flow:{flow_id}")


# The event class `@event("Defined")` made: what lists every flow (by stored topic).
FLOW_DEFINED: type[Aggregate.Event] = vars(Flow)["Defined"]
