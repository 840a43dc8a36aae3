"""JSON as a hostile sender writes it: what `json.dumps` would never produce.

A document is plain Python data plus three markers: `Raw` (text written as is: `1e999`, `NaN`,
a 5,000-digit integer, a deep nesting), `Pairs` (an object whose keys may repeat) and strings
holding lone surrogates, which `write` escapes (`\\ud800`) or emits as raw bytes (ED A0 80).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Raw:
    """Text written into the document exactly as it is."""

    text: str


@dataclass(frozen=True, slots=True)
class Pairs:
    """An object given as key-value pairs: a key may appear more than once."""

    items: Sequence[tuple[str, object]]


def write(document: object, *, ascii_only: bool) -> bytes:
    """The document as bytes; with `ascii_only` every non-ASCII character is a `\\u` escape,
    otherwise UTF-8 where a lone surrogate becomes its raw (invalid) three bytes."""
    parts: list[str] = []
    _write(document, parts, ascii_only)
    return "".join(parts).encode("utf-8", "surrogatepass")


def _write(value: object, out: list[str], ascii_only: bool) -> None:
    if isinstance(value, Raw):
        out.append(value.text)
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=ascii_only))
    elif value is None or isinstance(value, bool | int):
        out.append(json.dumps(value))
    elif isinstance(value, float):
        out.append(repr(value) if value == value and abs(value) != float("inf") else "NaN")
    elif isinstance(value, dict | Pairs):
        items = value.items() if isinstance(value, dict) else value.items
        out.append("{")
        for index, (key, item) in enumerate(items):
            if index:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=ascii_only))
            out.append(":")
            _write(item, out, ascii_only)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, ascii_only)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
