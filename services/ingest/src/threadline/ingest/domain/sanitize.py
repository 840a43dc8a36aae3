"""Cleaning a decoded JSON value once, where it enters: every change recorded as a problem.

What could break a consumer later is changed here, and each change named by its path
(`entry[0].changes[0].value.messages[0].text.body truncated from 400000 to 4096 characters`):

- lone surrogates (a `"\\ud800"` escape, or the bytes ED A0 80 the JSON decoder lets through)
  become U+FFFD, NUL characters are removed (protobuf and PostgreSQL refuse them);
- numbers that are not finite (`NaN`, `Infinity`, `1e999`) or integers beyond 64 bits become
  null;
- strings over their bound (`bounds.py`) are cut short, or dropped for ids; lists keep their
  first items; what nests too deep becomes null; object keys are cleaned like strings.

Problems name paths built from the sender's keys, so a key is quoted and cut short in a path,
and a value in an error text is quoted by `quote` (never the whole input).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from threadline.ingest.domain.bounds import (
    INT64,
    MAX_DEPTH,
    MAX_LIST_ITEMS,
    MAX_PROBLEM_CHARS,
    MAX_PROBLEMS,
    OBJECT_KEY,
    QUOTE_CHARS,
    Bound,
    bound_of,
)

_UNSAFE: Final = re.compile("[\x00\ud800-\udfff]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_PLAIN_KEY: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_INT_DIGITS: Final = 40


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """`value` for an error text: at most `limit` characters of it, escaped, then "...".

    `ascii` escapes control characters, lone surrogates and anything not ASCII, so the text is
    safe in a log line, a protobuf string and a NATS header (which readers parse as ASCII)."""
    if isinstance(value, str):
        return ascii(value[:limit]) + ("..." if len(value) > limit else "")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * limit:
        return f"<an integer of {value.bit_length()} bits>"
    text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def key_path(path: str, key: str) -> str:
    """`path.key`, or `path[<quoted key>]` when the key is not a plain name."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{quote(key, 32)}]"


def decode_json(body: bytes) -> Any:
    """`json.loads`, with integers of any length read without error (they are nulled later).

    Python refuses integers over 4,300 digits with a ValueError; one such number in one message
    must not make the whole webhook unreadable."""
    return json.loads(body, parse_int=_parse_int)


def _parse_int(text: str) -> int | float:
    if len(text) <= _MAX_INT_DIGITS:
        return int(text)
    return -math.inf if text.startswith("-") else math.inf


class Problems:
    """What was changed, as texts (each cut at `MAX_PROBLEM_CHARS`); the first `MAX_PROBLEMS`
    kept, the others counted."""

    def __init__(self, limit: int = MAX_PROBLEMS) -> None:
        self._limit = limit
        self._texts: list[str] = []
        self._more = 0

    def add(self, text: str) -> None:
        if len(self._texts) < self._limit:
            self._texts.append(_cut(text, MAX_PROBLEM_CHARS))
        else:
            self._more += 1

    def extend(self, texts: list[str]) -> None:
        for text in texts:
            self.add(text)

    def __bool__(self) -> bool:
        return bool(self._texts)

    def texts(self) -> list[str]:
        more = [f"… and {self._more} more problems"] if self._more else []
        return [*self._texts, *more]


@dataclass(slots=True)
class Cleaned:
    """A cleaned value and what was changed to make it so."""

    value: Any
    problems: list[str] = field(default_factory=list)


def clean(value: Any, path: str, *, parent: str = "", max_depth: int = MAX_DEPTH) -> Cleaned:
    """`value` (decoded JSON) cleaned; `parent` is the key it is under (for its bounds)."""
    problems = Problems()
    cleaned = _Walk(problems, max_depth).value(value, path, parent, "", 0)
    return Cleaned(cleaned, problems.texts())


def clean_text(text: str, path: str, bound: Bound, problems: Problems) -> str:
    """One string cleaned and bounded (empty when dropped)."""
    return _Walk(problems, MAX_DEPTH).string(text, path, bound)


def has_unsafe_characters(text: str) -> bool:
    """Lone surrogates or NUL."""
    return _UNSAFE.search(text) is not None


class _Walk:
    def __init__(self, problems: Problems, max_depth: int) -> None:
        self._problems = problems
        self._max_depth = max_depth

    def value(self, value: Any, path: str, parent: str, key: str, depth: int) -> Any:
        if isinstance(value, str):
            return self.string(value, path, bound_of(parent, key))
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            if value in INT64:
                return value
            self._problems.add(f"{path} was an integer beyond 64 bits; replaced by null")
            return None
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            self._problems.add(f"{path} was not a finite number ({value}); replaced by null")
            return None
        if depth >= self._max_depth:
            self._problems.add(
                f"{path} nested deeper than {self._max_depth} levels; replaced by null"
            )
            return None
        if isinstance(value, list):
            return self.items(value, path, key or parent, depth)
        if isinstance(value, dict):
            return self.object(value, path, key or parent, depth)
        self._problems.add(f"{path} was not a JSON value; replaced by null")
        return None

    def items(self, items: list[Any], path: str, parent: str, depth: int) -> list[Any]:
        if len(items) > MAX_LIST_ITEMS:
            self._problems.add(
                f"{path} had {len(items)} items; the first {MAX_LIST_ITEMS} were kept"
            )
            items = items[:MAX_LIST_ITEMS]
        # The items of a list are under the list's key (`errors[0].title` is an error title).
        return [
            self.value(item, f"{path}[{index}]", parent, "", depth + 1)
            for index, item in enumerate(items)
        ]

    def object(self, value: dict[Any, Any], path: str, parent: str, depth: int) -> dict[str, Any]:
        cleaned: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = self.key(str(raw_key), path)
            where = key_path(path, key)
            if key in cleaned:
                self._problems.add(f"{where} appeared twice once its key was cleaned; last kept")
            cleaned[key] = self.value(item, where, parent, key, depth + 1)
        return cleaned

    def key(self, key: str, path: str) -> str:
        if len(key) <= OBJECT_KEY and not has_unsafe_characters(key):
            return key
        where = key_path(path, key)
        cleaned = self._safe(key, where)
        if len(cleaned) > OBJECT_KEY:
            self._problems.add(f"{where}: key cut from {len(cleaned)} to {OBJECT_KEY} characters")
            cleaned = cleaned[:OBJECT_KEY]
        return cleaned

    def string(self, text: str, path: str, bound: Bound) -> str:
        text = self._safe(text, path)
        if len(text) <= bound.chars:
            return text
        if bound.drop:
            self._problems.add(
                f"{path} dropped: {len(text)} characters, more than the {bound.chars} it may have"
            )
            return ""
        self._problems.add(f"{path} truncated from {len(text)} to {bound.chars} characters")
        return text[: bound.chars]

    def _safe(self, text: str, path: str) -> str:
        if not has_unsafe_characters(text):
            return text
        if _SURROGATE.search(text):
            self._problems.add(f"{path} had lone surrogates; replaced by U+FFFD")
            text = _SURROGATE.sub("\ufffd", text)
        if "\x00" in text:
            self._problems.add(f"{path} had NUL characters; removed")
            text = text.replace("\x00", "")
        return text
