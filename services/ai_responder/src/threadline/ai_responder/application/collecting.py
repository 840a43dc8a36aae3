"""Use case: the model called the built-in `collect_customer_data` tool (issue 12 item 2).

An assistant whose configuration lists fields to collect is offered the tool: one string
property per field key, none required (the model passes what the customer has given so far).
`CollectCustomerData.run` checks the values with the shared field rules in the business's
timezone and the assistant's language (domain/customer_data.py), tells the conversation the
accepted ones (`CustomerDataEvents`: the session keeps them in the conversation's session_data
and on the contact) and gives the model `{"saved": {...}, "refused": {"email": "<hint>"}}`, so it
can ask again for what was refused. Nothing here raises out of the burst: an event that is not
kept is logged (its values are not said to be saved) and the model still gets its result."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from threadline.ai_responder.application.ports import Tool, ToolCall
from threadline.ai_responder.domain.customer_data import (
    CollectField,
    Collection,
    CustomerDataCollected,
    collect,
)
from threadline.rules.fields import FieldKind
from threadline.servicekit.clock import Clock

log = logging.getLogger(__name__)

COLLECT_CUSTOMER_DATA: Final = "collect_customer_data"
NOT_KEPT: Final = "not saved (a temporary problem); ask again later"
# What each kind is described as to the model (the value is always the customer's words).
KIND_HINTS: Final[Mapping[FieldKind, str]] = {
    FieldKind.NAME: "the customer's name",
    FieldKind.EMAIL: "an email address",
    FieldKind.PHONE: "a phone number, with its country code when the customer gave one",
    FieldKind.DATE: "a date, as the customer said it (e.g. 25/12, tomorrow)",
    FieldKind.TIME: "a time of day, as the customer said it (e.g. 14:30, 2pm)",
    FieldKind.NUMBER: "a number",
    FieldKind.CHOICE: "one of the options",
    FieldKind.TEXT: "a short text",
}
# Told to a model offered the tool.
COLLECT_GUIDANCE: Final = (
    "When the customer gives any of the details the business collects, save them with the "
    "`collect_customer_data` tool before replying (ask for the required ones you do not have). "
    "A value it refuses comes back with a hint: ask the customer again with it; never say a "
    "detail was saved unless the tool saved it."
)


def collect_tool(fields: tuple[CollectField, ...]) -> Tool:
    """`collect_customer_data` for `fields`: one string property each."""
    properties: dict[str, object] = {}
    for wanted in fields:
        described = wanted.label or wanted.key.replace("_", " ")
        kind = KIND_HINTS[wanted.spec.kind]
        if wanted.spec.options:
            kind += ": " + ", ".join(f"{o.id} ({o.title})" for o in wanted.spec.options)
        required = " (required)" if wanted.required else ""
        properties[wanted.key] = {"type": "string", "description": f"{described}{required}: {kind}"}
    return Tool(
        name=COLLECT_CUSTOMER_DATA,
        description=(
            "Save details the customer gave (only those they gave; leave out the others). "
            "Returns the values saved and, for each refused one, a hint to ask again with."
        ),
        parameters={"type": "object", "properties": properties, "additionalProperties": False},
    )


class CustomerDataEvents(Protocol):
    async def customer_data_collected(self, collected: CustomerDataCollected) -> None:
        """Tell the conversation (the session records it); raises when not kept."""
        ...


class CollectCustomerData:
    def __init__(
        self, *, timezone: ZoneInfo, clock: Clock, events: CustomerDataEvents | None = None
    ) -> None:
        self._timezone, self._clock, self._events = timezone, clock, events

    async def run(
        self,
        fields: tuple[CollectField, ...],
        call: ToolCall,
        *,
        conversation_id: str,
        generation_id: str,
        language: str,
    ) -> str:
        """The tool's result for the model (JSON), the accepted values told to the session."""
        now = self._clock()
        result = collect(
            fields, call.arguments, now=now, timezone=self._timezone, language=language
        )
        if result.saved and self._events is not None:
            collected = CustomerDataCollected(
                event_id=f"collect:{generation_id}:{call.call_id or COLLECT_CUSTOMER_DATA}",
                conversation_id=conversation_id,
                generation_id=generation_id,
                fields=result.saved,
                at=now,
            )
            try:
                await self._events.customer_data_collected(collected)
            except Exception as error:
                log.warning(
                    "collected data %s not told to the session: %s", collected.event_id, error
                )
                result = Collection({}, {**result.refused, **dict.fromkeys(result.saved, NOT_KEPT)})
        log.info(
            "collected in %s: saved %s, refused %s",
            conversation_id,
            sorted(result.saved),
            sorted(result.refused),
        )
        return result.for_model()
