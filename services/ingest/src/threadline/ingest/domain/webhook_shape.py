"""Reading a decoded webhook strictly: every structural mistake names where it is.

Paths look like `entry[0].changes[1].value.messages[0].id`, so a dead-lettered webhook says
exactly what was wrong with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from threadline.ingest.domain.bounds import TIMESTAMP_DIGITS
from threadline.ingest.domain.sanitize import quote

JsonObject = Mapping[str, Any]

_DIGITS: Final = re.compile("[0-9]+")


UNPARSEABLE: Final = "unparseable"  # the structure is not WhatsApp's
BAD_ID: Final = "bad-id"  # an id or key over its bound, or not printable
OVERSIZED: Final = "oversized"  # over the whole-message bound once cleaned


class MalformedWebhook(ValueError):
    """A webhook, or a part of it, that cannot be read as WhatsApp sends it.

    `reason` names what is wrong and where, quoting at most a few characters of the input;
    `slug` names the kind of mistake (the dead letter's subject)."""

    def __init__(self, reason: str, slug: str = UNPARSEABLE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.slug = slug


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def as_object(value: object, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where} must be an object, got {kind_of(value)}")
    return value


def object_at(parent: JsonObject, key: str, path: str, *, required: bool) -> JsonObject:
    """The object under `key`; an empty one when it is absent and not required."""
    value = parent.get(key)
    where = join(path, key)
    if value is None:
        if required:
            raise MalformedWebhook(f"{where} is missing")
        return {}
    return as_object(value, where)


def list_at(
    parent: JsonObject, key: str, path: str, *, required: bool = False
) -> list[tuple[str, object]]:
    """The items of the list under `key`, each with its path (read one by one by the caller)."""
    value = parent.get(key)
    where = join(path, key)
    if value is None:
        if required:
            raise MalformedWebhook(f"{where} is missing")
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where} must be a list, got {kind_of(value)}")
    return [(f"{where}[{index}]", item) for index, item in enumerate(value)]


def string_at(parent: JsonObject, key: str, path: str, *, required: bool = False) -> str:
    """The string under `key`; empty when absent and not required."""
    value = parent.get(key)
    where = join(path, key)
    if value is None or value == "":
        if required:
            raise MalformedWebhook(f"{where} is missing")
        return ""
    if not isinstance(value, str):
        raise MalformedWebhook(f"{where} must be a string, got {kind_of(value)}")
    return value


def id_at(
    parent: JsonObject, key: str, path: str, max_chars: int, *, required: bool = False
) -> str:
    """The id (or key: a type, a status) under `key`: printable and at most `max_chars` long.

    An id is never cut short (it would name something else): over its bound, or holding
    control characters, lone surrogates or NUL, it is a `BAD_ID` mistake."""
    value = string_at(parent, key, path, required=required)
    where = join(path, key)
    if len(value) > max_chars:
        raise MalformedWebhook(
            f"{where} has {len(value)} characters, more than the {max_chars} it may have",
            BAD_ID,
        )
    if not value.isprintable():
        raise MalformedWebhook(f"{where} is not printable: {quote(value)}", BAD_ID)
    return value


def unix_seconds_at(parent: JsonObject, key: str, path: str) -> int:
    """The Unix time (seconds, as a string of digits or a number) under `key`.

    Any number of up to `TIMESTAMP_DIGITS` digits is read; whether it is a sensible time is for
    the caller (it is clamped to a window around the time received)."""
    value = parent.get(key)
    where = join(path, key)
    if value is None or value == "":
        raise MalformedWebhook(f"{where} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedWebhook(f"{where} must be Unix seconds, got {kind_of(value)}")
    if isinstance(value, int):
        if abs(value) >= 10**TIMESTAMP_DIGITS:
            raise MalformedWebhook(f"{where} must be Unix seconds, got {quote(value)}")
        return value
    if not (_DIGITS.fullmatch(value) and len(value) <= TIMESTAMP_DIGITS):
        raise MalformedWebhook(f"{where} must be Unix seconds, got {quote(value)}")
    return int(value)


def text_of(value: object) -> str:
    """`value` when it is a string, else empty: for the parts that only decorate a fact."""
    return value if isinstance(value, str) else ""


def compact_json(value: object) -> str:
    """JSON as WhatsApp sends it: keys in their order, UTF-8 kept, no spaces."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def canonical_json(value: object) -> str:
    """JSON with sorted keys: equal content gives equal text (for hashing)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
