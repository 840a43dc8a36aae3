"""What every projector needs: ids, times and payloads read strictly from an event."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from threadline.analytics.domain.write.changes import Changes, ProjectionError
from threadline.analytics.domain.write.sanitise import clean_json_text, finite_or_none, no_constant
from threadline.contracts.events.v1.common_pb2 import MessageContent, Pricing
from threadline.contracts.events.v1.session_pb2 import SessionEvent

PREVIEW_LENGTH = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NANOS = 1_000_000_000

EventProjector = Callable[[SessionEvent, Changes], None]


@lru_cache(maxsize=65536)
def _uuid(text: str) -> UUID:
    """Parsed once per id while it is in use (replays parse millions of repeated ids)."""
    return UUID(text)


def uuid_of(text: str, what: str) -> UUID:
    try:
        return _uuid(text)
    except ValueError:
        raise ProjectionError(f"{what} {text!r} is not a UUID") from None


def aggregate_uuid(event: SessionEvent) -> UUID:
    try:
        return _uuid(event.aggregate_id)
    except ValueError:
        what = f"{event.aggregate_type or 'aggregate'} id"
        raise ProjectionError(f"{what} {event.aggregate_id!r} is not a UUID") from None


def message_id_of(text: str) -> str:
    if not text:
        raise ProjectionError("the event names no message_id")
    return text


def occurred_at(event: SessionEvent) -> datetime:
    if not event.HasField("occurred_at"):
        raise ProjectionError(f"event {event.event_id!r} has no occurred_at")
    return utc(event.occurred_at)


def moment(stamp: Timestamp, *, otherwise: datetime) -> datetime:
    """A timestamp field of a body, or `otherwise` when the session left it unset."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return otherwise
    return utc(stamp)


def utc(stamp: Timestamp) -> datetime:
    """`stamp.ToDatetime(tzinfo=UTC)` in a third of the time; outside the valid range both
    raise (the library's own checks run for nanos out of range)."""
    if 0 <= stamp.nanos < _NANOS:
        return _EPOCH + timedelta(0, stamp.seconds, stamp.nanos // 1000)
    return stamp.ToDatetime(tzinfo=UTC)


def iso(when: datetime) -> str:
    """A time as histories (jsonb) keep it: ISO 8601 in UTC, castable to timestamptz."""
    return (when if when.tzinfo is UTC else when.astimezone(UTC)).isoformat()


def moment_iso(stamp: Timestamp, *, otherwise: datetime) -> str:
    """`iso(moment(stamp, otherwise=otherwise))` without building the datetime: the text of
    each second is kept while in use (status reports of one second share it)."""
    seconds, nanos = stamp.seconds, stamp.nanos
    if seconds == 0 and nanos == 0:
        return iso(otherwise)
    if not 0 <= nanos < _NANOS:
        return iso(utc(stamp))
    micros = nanos // 1000
    second = _second_iso(seconds)
    return f"{second}.{micros:06d}+00:00" if micros else f"{second}+00:00"


@lru_cache(maxsize=4096)
def _second_iso(seconds: int) -> str:
    return (_EPOCH + timedelta(0, seconds)).isoformat()[: -len("+00:00")]


def preview(content: MessageContent) -> str:
    if content.text:
        return content.text[:PREVIEW_LENGTH]
    return f"[{content.type}]" if content.type else ""


def parsed_metadata(text: str) -> dict[str, Any]:
    """The metadata's JSON, as jsonb can store it: NUL replaced, and numbers a double cannot
    hold (NaN, Infinity, 1e999) null (`sanitise`)."""
    if not text:
        return {}
    if "\\u0000" in text:
        text = clean_json_text(text)
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # what orjson refuses and the standard library reads (NaN, huge integers)
            parsed = json.loads(text, parse_constant=no_constant, parse_float=finite_or_none)
        except ValueError:
            # Keep what the session recorded rather than lose the message over its metadata.
            return {"unparsed": text}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def as_dict(message: Message) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def reported_pricing(pricing: Pricing) -> dict[str, Any] | None:
    """The pricing a status webhook carried, or None when it carried none."""
    if not (pricing.billable or pricing.category or pricing.pricing_model or pricing.type):
        return None
    return {
        "billable": pricing.billable,
        "category": pricing.category,
        "pricing_model": pricing.pricing_model,
        "type": pricing.type,
    }
