"""What the AI responder knows of the business's flows: each flow's latest definition (parsed
with the shared `threadline.rules` parser the session checked it with) and the numbers it runs
on, so the flow runner can find the flows a message on a number may start.

Folded from the session's `FlowConfigured` events in the order the session stored them; pure.
A flow is never removed; a newer version replaces the last, an older or repeated one changes
nothing (the follower reads the stream from its start at every process start).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from threadline.rules.fields import DefinitionError
from threadline.rules.flow_definition import FlowDefinition, parse_flow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConfiguredFlow:
    """A flow as the session configured it, in `version` (1, 2, ... one per real change)."""

    version: int
    definition: FlowDefinition

    @property
    def id(self) -> str:
        return self.definition.id

    def runs_on(self, phone_number_id: str) -> bool:
        numbers = self.definition.business_numbers
        return not numbers or phone_number_id in numbers


@dataclass(slots=True)
class FlowCatalog:
    """Flows by id."""

    _flows: dict[str, ConfiguredFlow] = field(default_factory=dict)

    def flow_configured(self, version: int, definition_json: str) -> bool:
        """Keep this version of a flow (False when it is not newer than the one kept, or its
        definition does not read: the session checked it, so that is a newer parser's flow)."""
        try:
            definition = parse_flow(json.loads(definition_json))
        except (ValueError, DefinitionError) as error:
            log.warning("skipping a flow definition that does not read: %s", error)
            return False
        kept = self._flows.get(definition.id)
        if kept is not None and kept.version >= version:
            return False
        self._flows[definition.id] = ConfiguredFlow(version, definition)
        return True

    def flow(self, flow_id: str) -> ConfiguredFlow | None:
        return self._flows.get(flow_id)

    def flows_for(self, phone_number_id: str) -> list[FlowDefinition]:
        """The definitions of the flows that run on this number, by id."""
        return [
            kept.definition
            for _, kept in sorted(self._flows.items())
            if kept.runs_on(phone_number_id)
        ]

    def flows(self) -> list[ConfiguredFlow]:
        return [kept for _, kept in sorted(self._flows.items())]
