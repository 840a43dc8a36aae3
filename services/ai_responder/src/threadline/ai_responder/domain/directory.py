"""What the AI responder knows of business numbers and assistants: which assistant serves a
number, in which version of its configuration, and whether the number's autopilot is on.

Folded from the session's events (`BusinessNumber.*`, `Assistant.*`) in the order the session
stored them; pure. A number nobody assigned an assistant to is served by the default assistant
(the service's own configuration); a number the directory has not heard of has its autopilot on,
as the session has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from threadline.ai_responder.domain.customer_data import CollectField
from threadline.ai_responder.domain.flow_catalog import FlowCatalog
from threadline.ai_responder.domain.http_tools import HttpTool


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """An assistant as configured, in `version` (0: the service's default assistant, configured
    by the environment rather than by events)."""

    name: str
    version: int
    model: str
    system_prompt: str = ""
    language: str = ""
    reply_delay: timedelta = timedelta(seconds=2)
    max_context_tokens: int = 4000
    tools: tuple[str, ...] = ()
    http_tools: tuple[HttpTool, ...] = ()  # the business's own (domain/http_tools.py)
    knowledge_bases: tuple[str, ...] = ()  # the knowledge bases it answers from, citing them
    # The customer data it collects with `collect_customer_data` (domain/customer_data.py).
    collect_fields: tuple[CollectField, ...] = ()


@dataclass(slots=True)
class _Number:
    phone_number_id: str = ""
    autopilot: bool = True
    assistant: str = ""


@dataclass(slots=True)
class Directory:
    """Numbers by the session's aggregate id (events name their aggregate, the
    `BusinessNumber.Registered` event its phone number id) and assistants by name."""

    default: AssistantSettings
    _numbers: dict[str, _Number] = field(default_factory=dict)
    _by_phone: dict[str, _Number] = field(default_factory=dict)
    _assistants: dict[str, AssistantSettings] = field(default_factory=dict)
    # The business's flows (`Flow.*` events), for the flow runner to find by number.
    flows: FlowCatalog = field(default_factory=FlowCatalog)

    # -- what the events say -------------------------------------------------------------------

    def number_registered(self, number_id: str, phone_number_id: str) -> None:
        number = self._number(number_id)
        number.phone_number_id = phone_number_id
        self._by_phone[phone_number_id] = number

    def autopilot_set(self, number_id: str, enabled: bool) -> None:
        self._number(number_id).autopilot = enabled

    def assistant_assigned(self, number_id: str, phone_number_id: str, assistant: str) -> None:
        if phone_number_id:
            self.number_registered(number_id, phone_number_id)
        self._number(number_id).assistant = assistant

    def assistant_configured(self, settings: AssistantSettings) -> None:
        known = self._assistants.get(settings.name)
        if known is None or settings.version >= known.version:
            self._assistants[settings.name] = settings

    # -- what the responder asks ---------------------------------------------------------------

    def assistant_for(self, phone_number_id: str) -> AssistantSettings:
        """The assistant serving the number: the one assigned to it, else the default (also
        when the assigned one's configuration has not been read yet)."""
        number = self._by_phone.get(phone_number_id)
        if number is None or not number.assistant:
            return self.default
        return self._assistants.get(number.assistant, self.default)

    def autopilot(self, phone_number_id: str) -> bool:
        number = self._by_phone.get(phone_number_id)
        return True if number is None else number.autopilot

    def assistants(self) -> list[AssistantSettings]:
        return sorted(self._assistants.values(), key=lambda a: a.name)

    def _number(self, number_id: str) -> _Number:
        number = self._numbers.get(number_id)
        if number is None:
            number = self._numbers[number_id] = _Number()
        return number
