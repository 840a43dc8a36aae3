"""The customer data an assistant collects (issue 12 item 2): its `collect_customer_data` tool's
fields, as configured (`AssistantConfigured.collect_fields_json`, checked by the session), and
what a call of the tool keeps.

Each field is a `FieldSpec` of the shared field rules (`threadline.rules.fields`, the ones a
flow's asks use) with the label the model is told and whether the assistant should ask until it
has it. `collect` reads a call's arguments (each value a string, as the customer wrote it) with
`validate` in the business's timezone and the assistant's language: the accepted values,
normalised (an ISO date, an E.164 phone, a choice's id), are saved; a refused one gets the
field's hint, so the model can ask again; a key the assistant does not collect is ignored (and
said so). Pure: the instant and timezone are passed in."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from threadline.rules.fields import (
    Accepted,
    Choice,
    FieldKind,
    FieldSpec,
    validate,
)

log = logging.getLogger(__name__)

NOT_COLLECTED = "not a field this assistant collects"
MAX_VALUE = 500  # characters of one value the model passes


@dataclass(frozen=True, slots=True)
class CollectField:
    spec: FieldSpec
    label: str = ""
    required: bool = False

    @property
    def key(self) -> str:
        return self.spec.key


@dataclass(frozen=True, slots=True)
class Collection:
    """What one call of the tool gave: values saved (normalised) and refused (with hints)."""

    saved: Mapping[str, str] = field(default_factory=dict)
    refused: Mapping[str, str] = field(default_factory=dict)

    def for_model(self) -> str:
        """The tool's result as the model reads it: `{"saved": {...}, "refused": {...}}`."""
        return json.dumps(
            {"saved": dict(self.saved), "refused": dict(self.refused)}, ensure_ascii=False
        )


@dataclass(frozen=True, slots=True)
class CustomerDataCollected:
    """Values a call saved, for the session to keep on the conversation and its contact."""

    event_id: str  # collect:<generation_id>:<the provider's call id>
    conversation_id: str
    generation_id: str
    fields: Mapping[str, str]
    at: datetime


def collect_fields_from_json(raw: str) -> tuple[CollectField, ...]:
    """The fields of an `AssistantConfigured.collect_fields_json` (canonical JSON the session
    checked); a field that cannot be read is left out and logged, never fatal."""
    if not raw.strip():
        return ()
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as error:
        log.warning("collect fields are not JSON (%s): none used", error)
        return ()
    if not isinstance(given, list):
        return ()
    fields: list[CollectField] = []
    for item in given:
        try:
            fields.append(_field(item))
        except (KeyError, TypeError, ValueError) as error:
            log.warning("collect field %r left out: %s", item, error)
    return tuple(fields)


def _field(item: Any) -> CollectField:
    options = tuple(
        Choice(str(option["id"]), str(option["title"])) for option in item.get("options") or ()
    )
    spec = FieldSpec(
        key=str(item["key"]), kind=FieldKind(item.get("type", "text")), options=options
    )
    return CollectField(spec, str(item.get("label", "")), bool(item.get("required", False)))


def collect(
    fields: tuple[CollectField, ...],
    arguments: Mapping[str, Any],
    *,
    now: datetime,
    timezone: ZoneInfo,
    language: str,
) -> Collection:
    """The call's values checked against `fields`: saved normalised, or refused with a hint."""
    by_key = {f.key: f for f in fields}
    saved: dict[str, str] = {}
    refused: dict[str, str] = {}
    for key, value in arguments.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # not given yet
        wanted = by_key.get(key)
        if wanted is None:
            refused[str(key)] = NOT_COLLECTED
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        outcome = validate(wanted.spec, text[:MAX_VALUE], now, timezone, language or "en")
        if isinstance(outcome, Accepted):
            saved[key] = outcome.value
        else:
            refused[key] = outcome.hint
    return Collection(saved, refused)
