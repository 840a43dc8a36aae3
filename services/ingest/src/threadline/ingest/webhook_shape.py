"""Reading a decoded webhook strictly: every structural mistake names where it is.

Paths look like `entry[0].changes[1].value.messages[0].id`, so a dead-lettered webhook says
exactly what was wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from google.protobuf.timestamp_pb2 import Timestamp

JsonObject = Mapping[str, Any]

# The range google.protobuf.Timestamp can hold: 0001-01-01 to 9999-12-31.
_MIN_SECONDS: Final = -62_135_596_800
_MAX_SECONDS: Final = 253_402_300_799


class MalformedWebhook(ValueError):
    """A webhook body that cannot be read as WhatsApp sends it; `reason` names what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def object_at(parent: JsonObject, key: str, path: str, *, required: bool) -> JsonObject:
    """The object under `key`; an empty one when it is absent and not required."""
    value = parent.get(key)
    where = join(path, key)
    if value is None:
        if required:
            raise MalformedWebhook(f"{where} is missing")
        return {}
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where} must be an object, got {kind_of(value)}")
    return value


def objects_at(
    parent: JsonObject, key: str, path: str, *, required: bool = False
) -> list[tuple[str, JsonObject]]:
    """The objects of the list under `key`, each with its path."""
    value = parent.get(key)
    where = join(path, key)
    if value is None:
        if required:
            raise MalformedWebhook(f"{where} is missing")
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where} must be a list, got {kind_of(value)}")
    items: list[tuple[str, JsonObject]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise MalformedWebhook(f"{where}[{index}] must be an object, got {kind_of(item)}")
        items.append((f"{where}[{index}]", item))
    return items


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


def unix_time_at(parent: JsonObject, key: str, path: str) -> tuple[Timestamp, int]:
    """The Unix time (seconds, as a string or a number) under `key`, and its seconds."""
    value = parent.get(key)
    where = join(path, key)
    if value is None or value == "":
        raise MalformedWebhook(f"{where} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedWebhook(f"{where} must be Unix seconds, got {kind_of(value)}")
    try:
        seconds = int(value)
    except ValueError:
        raise MalformedWebhook(f"{where} must be Unix seconds, got {value!r}") from None
    if not _MIN_SECONDS <= seconds <= _MAX_SECONDS:
        raise MalformedWebhook(f"{where} is out of range: {seconds}")
    return Timestamp(seconds=seconds), seconds


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
