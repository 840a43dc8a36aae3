"""The customer data an assistant collects with its `collect_customer_data` tool (issue 12
item 2): the fields of the assistant file's `collect:` list.

Each field: `key` (its key in the conversation's session_data and on the contact, lower_snake
case), `type` (name, email, phone, date, time, number, choice, text: the shared field rules of
`threadline.rules.fields`, which a flow's asks use too), `label` (what the model is told the
field is; optional), `options` (a choice's, each `{id, title}` or a bare title) and `required`
(whether the assistant should ask until it has it; default false).

`validated_collect_fields` checks a JSON array of them and returns it canonical (keys sorted,
`label`/`options`/`required` only when given), so the same fields are the same text and the
assistant's version only moves on a real change; every refusal names the field
(`collect[1].type`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from threadline.rules.fields import DefinitionError, FieldKind, parse_field
from threadline.session.domain.configured_lists import canonical_list
from threadline.session.domain.errors import InvalidConfiguration

MAX_COLLECT_FIELDS: Final = 32
MAX_COLLECT_FIELDS_JSON: Final = 32_768
MAX_LABEL: Final = 200
KEY: Final = re.compile(r"[a-z_][a-z0-9_]{0,63}")
KEYS: Final = frozenset({"key", "type", "label", "options", "required"})


def validated_collect_fields(raw: str) -> str:
    """`raw` (a JSON array of fields, "" for none) checked and made canonical; raises
    InvalidConfiguration naming the field at fault."""
    return canonical_list(
        raw,
        setting="collect",
        items="fields",
        name="key",
        noun="key",
        max_items=MAX_COLLECT_FIELDS,
        max_bytes=MAX_COLLECT_FIELDS_JSON,
        item=_field,
    )


def _field(item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise InvalidConfiguration(f"{where} must be a mapping")
    if unknown := sorted(str(k) for k in item if k not in KEYS):
        raise InvalidConfiguration(f"{where} has unknown key(s) {unknown}")
    key = item.get("key")
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise InvalidConfiguration(
            f"{where}.key must be lower_snake_case (at most 64 characters), got {key!r}"
        )
    kind = item.get("type", FieldKind.TEXT.value)
    known = ", ".join(k.value for k in FieldKind)
    if not isinstance(kind, str) or kind not in FieldKind.__members__.values():
        raise InvalidConfiguration(f"{where}.type must be one of {known}, got {kind!r}")
    try:  # the shared rules read the options (and refuse a choice without them)
        spec = parse_field({"field": key, "type": kind, "options": item.get("options")}, where)
    except DefinitionError as error:
        raise InvalidConfiguration(str(error)) from None
    label = item.get("label", "")
    if not isinstance(label, str) or len(label) > MAX_LABEL:
        raise InvalidConfiguration(f"{where}.label must be text of at most {MAX_LABEL} characters")
    required = item.get("required", False)
    if not isinstance(required, bool):
        raise InvalidConfiguration(f"{where}.required must be true or false")
    field: dict[str, Any] = {"key": key, "type": spec.kind.value}
    if label.strip():
        field["label"] = " ".join(label.split())
    if spec.kind is FieldKind.CHOICE:
        field["options"] = [{"id": o.id, "title": o.title} for o in spec.options]
    elif item.get("options") is not None:
        raise InvalidConfiguration(f"{where}.options are only for a choice")
    if required:
        field["required"] = True
    return field
