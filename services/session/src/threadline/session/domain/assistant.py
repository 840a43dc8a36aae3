"""An assistant: configuration with history. Every real change is a new version, stored as an
event, so each reply can name the assistant version (prompt) that produced it.

An assistant is keyed by its name (one namespace per platform); the business numbers it serves
are assigned on each number (`BusinessNumber.assign_assistant`), at most one assistant a number.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from threadline.session.domain.collect_fields import validated_collect_fields
from threadline.session.domain.errors import InvalidConfiguration
from threadline.session.domain.http_tools import validated_http_tools
from threadline.session.domain.identity import NAMESPACE

PROVIDERS = ("openai", "anthropic", "offline")
# The offline assistant may be named by its provider alone (`model: offline`); the AI
# responder reads it as `offline:threadline-offline-1`.
OFFLINE = "offline"
DEFAULT_REPLY_DELAY_SECONDS = 2.0
MAX_REPLY_DELAY_SECONDS = 60.0
DEFAULT_MAX_CONTEXT_TOKENS = 8000
MIN_CONTEXT_TOKENS, MAX_CONTEXT_TOKENS = 256, 1_000_000
MAX_PROMPT_CODE_POINTS = 20_000
MAX_TOOLS, MAX_NUMBERS, MAX_KNOWLEDGE_BASES = 32, 100, 16
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TOOL = re.compile(r"[a-z][a-z0-9_]{0,63}")
MODEL = re.compile(r"([a-z][a-z0-9_-]*):(\S{1,200})")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,4})?")
NUMBER = re.compile(r"[A-Za-z0-9_-]{1,64}")
KNOWLEDGE_BASE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as ai_responder's knowledge bases


@dataclass(frozen=True, slots=True)
class AssistantSettings:
    """What an operator configures; `validated` applies the defaults and the rules."""

    name: str
    model: str
    system_prompt: str
    language: str = "en"
    reply_delay_seconds: float = DEFAULT_REPLY_DELAY_SECONDS
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS
    tools: tuple[str, ...] = ()
    business_numbers: tuple[str, ...] = ()
    # The business's HTTP tools, canonical JSON ("" for none; domain/http_tools.py).
    http_tools_json: str = ""
    # The knowledge bases it answers from (names; the AI responder searches them).
    knowledge_bases: tuple[str, ...] = ()
    # The customer data it collects (collect_customer_data), canonical JSON ("" for none;
    # domain/collect_fields.py).
    collect_fields_json: str = ""

    @classmethod
    def validated(
        cls,
        *,
        name: str,
        model: str,
        system_prompt: str,
        language: str = "",
        reply_delay_seconds: float | None = None,
        max_context_tokens: int = 0,
        tools: tuple[str, ...] = (),
        business_numbers: tuple[str, ...] = (),
        http_tools_json: str = "",
        knowledge_bases: tuple[str, ...] = (),
        collect_fields_json: str = "",
    ) -> AssistantSettings:
        if not NAME.fullmatch(name):
            _invalid("name", "lowercase letters, digits, '_' or '-' (at most 64)", name)
        found = MODEL.fullmatch(model)
        if model == OFFLINE:
            pass
        elif found is None:
            _invalid("model", "provider:model, e.g. openai:gpt-4.1-mini, or offline", model)
        elif found.group(1) not in PROVIDERS:
            _invalid("model", f"of a known provider ({', '.join(PROVIDERS)})", model)
        if not system_prompt.strip():
            raise InvalidConfiguration("system_prompt is required")
        if len(system_prompt) > MAX_PROMPT_CODE_POINTS:
            raise InvalidConfiguration(
                f"system_prompt is too long: {len(system_prompt)} code points, at most "
                f"{MAX_PROMPT_CODE_POINTS}"
            )
        language = language or "en"
        if not LANGUAGE.fullmatch(language):
            _invalid("language", "a language code such as en or pt_BR", language)
        delay = DEFAULT_REPLY_DELAY_SECONDS if reply_delay_seconds is None else reply_delay_seconds
        if not (math.isfinite(delay) and 0 <= delay <= MAX_REPLY_DELAY_SECONDS):
            raise InvalidConfiguration(
                f"reply_delay_seconds must be from 0 to {MAX_REPLY_DELAY_SECONDS:g}, got {delay}"
            )
        tokens = max_context_tokens or DEFAULT_MAX_CONTEXT_TOKENS
        if not MIN_CONTEXT_TOKENS <= tokens <= MAX_CONTEXT_TOKENS:
            raise InvalidConfiguration(
                f"max_context_tokens must be from {MIN_CONTEXT_TOKENS} to {MAX_CONTEXT_TOKENS},"
                f" got {tokens}"
            )
        _names("tools", tools, TOOL, MAX_TOOLS, "lowercase letters, digits and '_'")
        _names("business_numbers", business_numbers, NUMBER, MAX_NUMBERS, "a phone_number_id")
        _names(
            "knowledge_bases",
            knowledge_bases,
            KNOWLEDGE_BASE,
            MAX_KNOWLEDGE_BASES,
            "lowercase letters, digits, '_' or '-' (at most 64)",
        )
        return cls(
            name=name,
            model=model,
            system_prompt=system_prompt,
            language=language,
            reply_delay_seconds=float(delay),
            max_context_tokens=tokens,
            tools=tuple(tools),
            business_numbers=tuple(sorted(business_numbers)),
            http_tools_json=validated_http_tools(http_tools_json),
            knowledge_bases=tuple(knowledge_bases),
            collect_fields_json=validated_collect_fields(collect_fields_json),
        )


def _invalid(field: str, means: str, value: str) -> None:
    raise InvalidConfiguration(f"{field} must be {means}, got {value[:80]!r}")


def _names(
    field: str, values: tuple[str, ...], rule: re.Pattern[str], most: int, means: str
) -> None:
    if len(values) > most:
        raise InvalidConfiguration(f"{field} has too many items: {len(values)}, at most {most}")
    for index, value in enumerate(values):
        if not rule.fullmatch(value):
            _invalid(f"{field}[{index}]", means, value)
    if len(set(values)) != len(values):
        raise InvalidConfiguration(f"{field} lists a value twice")


class Assistant(Aggregate):
    """One assistant's configuration and its version (1 on creation, +1 a real change)."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return assistant_id(name)

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.settings_version = 0
        self.model = ""
        self.system_prompt = ""
        self.language = ""
        self.reply_delay_seconds = DEFAULT_REPLY_DELAY_SECONDS
        self.max_context_tokens = DEFAULT_MAX_CONTEXT_TOKENS
        self.tools: list[str] = []
        self.business_numbers: list[str] = []
        self.http_tools_json = ""
        self.knowledge_bases: list[str] = []
        self.collect_fields_json = ""

    def settings(self) -> AssistantSettings:
        return AssistantSettings(
            name=self.name,
            model=self.model,
            system_prompt=self.system_prompt,
            language=self.language,
            reply_delay_seconds=self.reply_delay_seconds,
            max_context_tokens=self.max_context_tokens,
            tools=tuple(self.tools),
            business_numbers=tuple(self.business_numbers),
            http_tools_json=self.http_tools_json,
            knowledge_bases=tuple(self.knowledge_bases),
            collect_fields_json=self.collect_fields_json,
        )

    def configure(self, settings: AssistantSettings) -> bool:
        """Apply `settings` (validated, of this name); False when they are already these."""
        if self.settings_version and settings == self.settings():
            return False
        self._configured(
            name=self.name,
            version=self.settings_version + 1,
            model=settings.model,
            system_prompt=settings.system_prompt,
            language=settings.language,
            reply_delay_seconds=settings.reply_delay_seconds,
            max_context_tokens=settings.max_context_tokens,
            tools=list(settings.tools),
            business_numbers=list(settings.business_numbers),
            http_tools_json=settings.http_tools_json,
            knowledge_bases=list(settings.knowledge_bases),
            collect_fields_json=settings.collect_fields_json,
        )
        return True

    @event("Configured")
    def _configured(
        self,
        name: str,
        version: int,
        model: str,
        system_prompt: str,
        language: str,
        reply_delay_seconds: float,
        max_context_tokens: int,
        tools: list[str],
        business_numbers: list[str],
        http_tools_json: str = "",  # last, with a default: older events read back ""
        knowledge_bases: list[str] | None = None,  # likewise: older events read back none
        collect_fields_json: str = "",  # likewise: older events collect nothing
    ) -> None:
        self.settings_version = version
        self.model = model
        self.system_prompt = system_prompt
        self.language = language
        self.reply_delay_seconds = reply_delay_seconds
        self.max_context_tokens = max_context_tokens
        self.tools = list(tools)
        self.business_numbers = list(business_numbers)
        self.http_tools_json = http_tools_json
        self.knowledge_bases = list(knowledge_bases or [])
        self.collect_fields_json = collect_fields_json


@lru_cache(maxsize=1024)
def assistant_id(name: str) -> UUID:
    return uuid5(NAMESPACE, f"assistant:{name}")


# The event class `@event("Registered")` made: what lists every assistant (by stored topic).
ASSISTANT_REGISTERED: type[Aggregate.Event] = vars(Assistant)["Registered"]
