"""An assistant's configured lists (its HTTP tools, the fields it collects): a JSON array read,
bounded, each item checked and made canonical by the caller's `item`, no two items with one
name, written back as canonical JSON (sorted keys, no spaces; "" for none)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from threadline.session.domain.errors import InvalidConfiguration


def canonical_list(
    raw: str,
    *,
    setting: str,
    items: str,
    name: str,
    noun: str,
    max_items: int,
    max_bytes: int,
    item: Callable[[object, str], dict[str, Any]],
) -> str:
    """`raw` checked and canonical; raises InvalidConfiguration naming `setting[i]...`.
    `items` is what the list holds ("tools"), `name` the key no two items may share, `noun`
    what that key names ("tool")."""
    if not raw.strip():
        return ""
    if len(raw) > max_bytes:
        raise InvalidConfiguration(f"{setting} is too long: at most {max_bytes} bytes")
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidConfiguration(f"{setting} is not JSON: {error}") from None
    if not isinstance(given, list):
        raise InvalidConfiguration(f"{setting} must be a list of {items}")
    if len(given) > max_items:
        raise InvalidConfiguration(
            f"{setting} has too many items: {len(given)}, at most {max_items}"
        )
    checked = [item(value, f"{setting}[{index}]") for index, value in enumerate(given)]
    names = [value[name] for value in checked]
    if len(set(names)) != len(names):
        raise InvalidConfiguration(f"{setting} names a {noun} twice")
    if not checked:
        return ""
    return json.dumps(checked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
