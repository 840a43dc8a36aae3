"""Mutations of a webhook: structure-aware (on the decoded tree) and byte-level (on its text).

Each mutation returns a note naming what it did and where, so a failing input explains itself.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

from tests.fuzz import values
from tests.fuzz.jsonwriter import Pairs, write

Slot = tuple[dict[str, Any] | list[Any], Any, str]  # parent, key or index, path

ID_KEYS = frozenset(
    {
        "id",
        "wamid",
        "message_id",
        "from",
        "wa_id",
        "recipient_id",
        "phone_number_id",
        "user_id",
        "from_user_id",
        "display_phone_number",
        "original_message_id",
        "catalog_id",
    }
)
UNKNOWN_TYPES = ("", "bogus", "TEXT", "text ", "edit", "revoke", "reaction", "system", "\ud800")


def slots(tree: object, path: str = "") -> Iterator[Slot]:
    """Every place in the tree a value sits (not inside markers already written in)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            where = f"{path}.{key}" if path else str(key)
            yield tree, key, where
            yield from slots(value, where)
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            where = f"{path}[{index}]"
            yield tree, index, where
            yield from slots(value, where)


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} chars)"


def mutate_tree(rng: random.Random, tree: dict[str, Any], *, count: int) -> list[str]:
    """Apply `count` structure-aware mutations in place; their notes."""
    notes = []
    for _ in range(count):
        found = list(slots(tree))
        if not found:
            break
        operation = rng.choices(OPERATIONS, weights=[w for _, w in OPERATIONS_WEIGHTED])[0]
        notes.append(operation(rng, found))
    return notes


def _hostile_value(rng: random.Random, found: list[Slot]) -> str:
    parent, key, path = _pick_leaf(rng, found)
    old = parent[key]
    if key == "timestamp":
        new = values.hostile_timestamp(rng)
    elif key in ID_KEYS:
        new = values.hostile_id(rng)
    elif isinstance(old, int | float) and not isinstance(old, bool):
        new = values.hostile_number(rng)
    else:
        new = values.hostile_string(rng)
    parent[key] = new
    return f"{path} = {short(new)}"


def _targeted(rng: random.Random, found: list[Slot]) -> str:
    """A hostile value where it matters most: times, ids, texts, coordinates, numbers."""
    wanted = ("timestamp", "id", "phone_number_id", "body", "latitude", "from", "name", "caption")
    targets = [s for s in found if s[1] in wanted and not isinstance(s[0][s[1]], dict | list)]
    return _hostile_value(rng, targets or found)


def _wrong_type(rng: random.Random, found: list[Slot]) -> str:
    parent, key, path = rng.choice(found)
    new = values.wrong_type(rng, parent[key])
    parent[key] = new
    return f"{path} of the wrong type: {short(new)}"


def _delete(rng: random.Random, found: list[Slot]) -> str:
    parent, key, path = rng.choice(found)
    del parent[key]
    return f"{path} deleted"


def _unknown_field(rng: random.Random, found: list[Slot]) -> str:
    containers = [s for s in found if isinstance(s[0][s[1]], dict)]
    if not containers:
        return _wrong_type(rng, found)
    parent, key, path = rng.choice(containers)
    target = parent[key]
    name = rng.choice(["x_unknown", "messages_v2", "__proto__", "referral", "\x00", "é" * 300])
    target[name] = rng.choice([values.hostile_string(rng), values.hostile_number(rng), {"a": []}])
    return f"unknown field {short(name)} in {path}"


def _duplicate_key(rng: random.Random, found: list[Slot]) -> str:
    containers = [s for s in found if isinstance(s[0][s[1]], dict) and s[0][s[1]]]
    if not containers:
        return _wrong_type(rng, found)
    parent, key, path = rng.choice(containers)
    items = list(parent[key].items())
    name, value = rng.choice(items)
    other = values.wrong_type(rng, value)
    twice = [(name, other), *items] if rng.random() < 0.5 else [*items, (name, other)]
    parent[key] = Pairs(twice)
    return f"{path}.{name} twice, once as {short(other)}"


def _deep(rng: random.Random, found: list[Slot]) -> str:
    parent, key, path = rng.choice(found)
    parent[key] = values.deep_nesting(rng)
    return f"{path} nested {len(parent[key].text) // 2} deep"


def _type(rng: random.Random, found: list[Slot]) -> str:
    types = [s for s in found if s[1] == "type"] or found
    parent, key, path = rng.choice(types)
    new = rng.choice((*UNKNOWN_TYPES, "image", "location", "interactive", "order", "contacts"))
    parent[key] = new
    return f"{path} = {short(new)}"


def _referral(rng: random.Random, found: list[Slot]) -> str:
    messages = [s for s in found if isinstance(s[0][s[1]], dict) and "from" in s[0][s[1]]]
    parent, key, path = rng.choice(messages or found)
    target = parent[key] if isinstance(parent[key], dict) else {}
    target["referral"] = {
        "source_type": rng.choice(["ad", "post", values.hostile_string(rng)]),
        "source_id": values.hostile_id(rng),
        "source_url": values.hostile_string(rng),
        "ctwa_clid": values.hostile_string(rng),
        "headline": values.hostile_string(rng),
    }
    return f"{path}.referral with hostile values"


def _copies(rng: random.Random, found: list[Slot]) -> str:
    lists = [s for s in found if isinstance(s[0][s[1]], list) and s[0][s[1]]]
    if not lists:
        return _unknown_field(rng, found)
    parent, key, path = rng.choice(lists)
    # Many copies, but the body stays within a few hundred kilobytes.
    size = len(write(parent[key], ascii_only=True))
    times = min(rng.choice([2, 10, 100, 1000]), max(2, 300_000 // size))
    parent[key] = [copy.deepcopy(item) for _ in range(times) for item in parent[key]]
    return f"{path} repeated {times} times"


def _pick_leaf(rng: random.Random, found: list[Slot]) -> Slot:
    leaves = [s for s in found if not isinstance(s[0][s[1]], dict | list)]
    return rng.choice(leaves or found)


OPERATIONS_WEIGHTED = [
    (_hostile_value, 6),
    (_targeted, 6),
    (_wrong_type, 3),
    (_delete, 2),
    (_unknown_field, 2),
    (_duplicate_key, 2),
    (_deep, 1),
    (_type, 2),
    (_referral, 1),
    (_copies, 1),
]
OPERATIONS = [operation for operation, _ in OPERATIONS_WEIGHTED]

BYTE_NASTIES = (
    b"\x00",
    b"\xed\xa0\x80",
    b"\xff",
    b"\\ud800",
    b"\\u0000",
    b"1e999",
    b'"',
    b"\\",
    b"{",
    b"]",
    b",",
    b"NaN",
    b"\xc0\x80",
    b"\xf4\x90\x80\x80",
)


def mutate_bytes(rng: random.Random, base: bytes, other: bytes) -> tuple[bytes, list[str]]:
    """One to three byte-level mutations of `base` (`other` is spliced in by one of them)."""
    data = bytearray(base)
    notes = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        at = rng.randrange(len(data) + 1)
        roll = rng.random()
        if roll < 0.25 and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << rng.randrange(8)
            notes.append(f"bit flipped at {at}")
        elif roll < 0.5:
            nasty = rng.choice(BYTE_NASTIES)
            data[at:at] = nasty
            notes.append(f"{nasty!r} inserted at {at}")
        elif roll < 0.65:
            end = min(len(data), at + rng.randrange(1, 64))
            del data[at:end]
            notes.append(f"bytes {at}..{end} deleted")
        elif roll < 0.8:
            end = min(len(data), at + rng.randrange(1, 200))
            data[at:at] = data[at:end] * rng.choice([2, 10, 100])
            notes.append(f"bytes {at}..{end} repeated")
        else:
            cut = rng.randrange(len(other) + 1)
            data[at:] = other[cut:]
            notes.append(f"spliced at {at} with another body from {cut}")
    return bytes(data), notes
