"""Requests checked once where they enter: every field bounded, every value in range.

`check_request` walks any protobuf message: strings and bytes within a length (a default, or
the `Rule` a service declares for that field), free of NUL and lone surrogates and matching
the rule's pattern; repeated fields within a count; doubles finite; `Timestamp`s within what
a timestamp can hold (years 1 to 9999, nanos 0 to 999,999,999). The gRPC server kit runs it on
every request; a problem is an `InvalidField` whose message starts with the field's path
(`content.text`, `filter.created_from`, `items[3].name`), mapped to INVALID_ARGUMENT.

`json_value` reads JSON text given by a caller the same way: bounded nesting, finite numbers,
strings free of NUL and lone surrogates; `check_text` checks one string.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from threadline.servicekit.errors import quoted

DEFAULT_MAX_CHARS = 1024
DEFAULT_MAX_ITEMS = 1000
MAX_JSON_DEPTH = 32
# What google.protobuf.Timestamp can represent: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799
MAX_NANOS = 999_999_999
_TIMESTAMP = "google.protobuf.Timestamp"
_BRACKETS = re.compile(r"[\[\]{}]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


class InvalidField(ValueError):
    """A field out of bounds or malformed; the message starts with the field's path."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path} {problem}")
        self.path = path


@dataclass(frozen=True, slots=True)
class Rule:
    """The bound of one field: at most `max_chars` characters (bytes for a bytes field, items
    for a repeated field), and, when given, a full match of `pattern`, described to the caller
    as `means` (e.g. "digits only")."""

    max_chars: int
    pattern: str = ""
    means: str = ""
    _compiled: re.Pattern[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern:
            object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def check(self, value: str, path: str) -> None:
        if len(value) > self.max_chars:
            raise InvalidField(path, _too_long(len(value), self.max_chars))
        if self._compiled is not None and value and not self._compiled.fullmatch(value):
            raise InvalidField(path, f"must be {self.means or self.pattern}, got {quoted(value)}")


@dataclass(frozen=True, slots=True)
class RequestRules:
    """The rules of a service's request fields, by full field name
    (`threadline.session.v1.SendMessageRequest.phone_number_id`), and the defaults for every
    other field."""

    fields: Mapping[str, Rule] = field(default_factory=dict)
    default_chars: int = DEFAULT_MAX_CHARS
    default_items: int = DEFAULT_MAX_ITEMS

    def __or__(self, other: RequestRules) -> RequestRules:
        return RequestRules({**self.fields, **other.fields}, self.default_chars, self.default_items)

    def rule(self, field: FieldDescriptor) -> Rule | None:
        return self.fields.get(field.full_name)


def field_rules(message: type[Message], **rules: Rule) -> RequestRules:
    """Rules for fields of one message type, by field name (a misspelt name fails here)."""
    descriptor = message.DESCRIPTOR
    unknown = sorted(set(rules) - set(descriptor.fields_by_name))
    if unknown:
        raise ValueError(f"{descriptor.full_name} has no fields {unknown}")
    return RequestRules({descriptor.fields_by_name[n].full_name: r for n, r in rules.items()})


def check_request(message: Message, rules: RequestRules = RequestRules()) -> None:
    """Raise `InvalidField` for the first field of `message` (nested ones too) out of bounds."""
    _check_message(message, rules, "")


def check_text(value: str, path: str, max_chars: int | None = None) -> None:
    """A string a caller gave: within `max_chars`, free of NUL and of lone surrogates."""
    if max_chars is not None and len(value) > max_chars:
        raise InvalidField(path, _too_long(len(value), max_chars))
    if "\x00" in value:
        raise InvalidField(path, "must not contain NUL characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidField(path, "must be valid Unicode (it holds a lone surrogate)") from None


def json_value(
    text: str | bytes, path: str, *, max_depth: int = MAX_JSON_DEPTH, strings: bool = True
) -> Any:
    """`text` parsed as JSON, or `InvalidField` naming `path` when it is not JSON, nests deeper
    than `max_depth`, holds NaN, Infinity or a number beyond a double, or (unless `strings` is
    false: the caller checks the strings it uses, by name) a string or key with NUL or a lone
    surrogate."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidField(path, "is not valid UTF-8") from None
    if _nesting(text) > max_depth:
        raise InvalidField(path, f"nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise InvalidField(path, "is not valid JSON") from None
    for string in _json_strings(value) if strings else ():
        check_text(string, path)
    return value


# The walk --------------------------------------------------------------------------------


def _check_message(message: Message, rules: RequestRules, prefix: str) -> None:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        _check_timestamp(message, prefix.rstrip("."))
        return
    for descriptor, value in message.ListFields():
        path = prefix + descriptor.name
        if not descriptor.is_repeated:
            _check_value(descriptor, value, rules, path)
            continue
        limit = rules.rule(descriptor)
        most = limit.max_chars if limit is not None else rules.default_items
        if len(value) > most:
            raise InvalidField(path, f"has too many items: {len(value)}, at most {most}")
        entry = _map_entry(descriptor)
        if entry is not None:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for key, item in value.items():
                _check_value(key_field, key, rules, f"{path}[{quoted(key)}].key")
                _check_value(value_field, item, rules, f"{path}[{quoted(key)}]")
        else:
            for index, item in enumerate(value):
                _check_value(descriptor, item, rules, f"{path}[{index}]")


def _check_value(descriptor: FieldDescriptor, value: Any, rules: RequestRules, path: str) -> None:
    kind = descriptor.type
    if kind == FieldDescriptor.TYPE_STRING:
        rule = None if descriptor.is_repeated else rules.rule(descriptor)
        check_text(value, path, rule.max_chars if rule is not None else rules.default_chars)
        if rule is not None:
            rule.check(value, path)
    elif kind == FieldDescriptor.TYPE_BYTES:
        rule = None if descriptor.is_repeated else rules.rule(descriptor)
        most = rule.max_chars if rule is not None else rules.default_chars
        if len(value) > most:
            raise InvalidField(path, f"is too long: {len(value)} bytes, at most {most}")
    elif kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        _check_message(value, rules, path + ".")
    elif kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT) and not math.isfinite(
        value
    ):
        raise InvalidField(path, f"must be a finite number, got {value}")


def _check_timestamp(stamp: Message, path: str) -> None:
    seconds: int = getattr(stamp, "seconds", 0)
    nanos: int = getattr(stamp, "nanos", 0)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise InvalidField(
            path,
            f"is out of range: seconds must be from {MIN_SECONDS} to {MAX_SECONDS}"
            f" (years 1 to 9999), got {seconds}",
        )
    if not 0 <= nanos <= MAX_NANOS:
        raise InvalidField(
            path, f"is out of range: nanos must be from 0 to {MAX_NANOS}, got {nanos}"
        )


def _map_entry(descriptor: FieldDescriptor) -> Descriptor | None:
    """The entry type of a map field (`key`, `value`); None for any other field."""
    entry = descriptor.message_type
    return entry if entry is not None and entry.GetOptions().map_entry else None


def _too_long(length: int, most: int) -> str:
    return f"is too long: {length} characters, at most {most}"


# JSON ------------------------------------------------------------------------------------


def _nesting(text: str) -> int:
    """How deep arrays and objects nest, counted without recursion (strings skipped)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:32]} is beyond the range of a double")
    return value


def _json_strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included, without recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
