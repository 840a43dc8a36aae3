"""Values PostgreSQL refuses, made storable before an event is projected.

PostgreSQL's `text` and `jsonb` cannot hold NUL (U+0000), and `jsonb` has no NaN or Infinity.
The session stores whatever a signed webhook carried, so without this such an event would be
dead-lettered: stored and answered, yet absent from every read model. Instead:

- NUL anywhere in an event's strings (texts, ids, names, the JSON text of metadata) becomes
  U+FFFD, the replacement character, so that the reader sees something was there;
- NaN, Infinity and numbers too large for a double in metadata become JSON null
  (`parsed_metadata`).

One place for both the live projection and a rebuild, ahead of the pure projection, so the two
write the same rows. Cheap where nothing needs it: the live consumer looks for a NUL byte in
the delivery's bytes (a string with NUL holds one), a rebuild in each page of the log it reads,
and metadata is searched for the escape `\\u0000` (a string search) before it is parsed.
"""

from __future__ import annotations

import math
import re
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

NUL = "\x00"
REPLACEMENT = "\ufffd"
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
# A JSON escape of NUL, not itself escaped: an even number of backslashes before `\u0000`.
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def clean_text(text: str) -> str:
    """`text` with every NUL replaced."""
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


def clean_json_text(text: str) -> str:
    """JSON text whose `\\u0000` escapes are replaced by `\\ufffd`, and raw NULs too."""
    if "\\u0000" in text:
        text = _JSON_NUL.sub(r"\1\\ufffd", text)
    return clean_text(text)


def clean_event(message: Message) -> bool:
    """Replace NUL in every string of `message`, in place (nested messages included);
    whether anything changed."""
    changed = False
    for field, value in message.ListFields():
        if field.type == _STRING:
            if field.is_repeated:
                for index, item in enumerate(value):
                    if NUL in item:
                        value[index] = clean_text(item)
                        changed = True
            elif NUL in value:
                setattr(message, field.name, clean_text(value))
                changed = True
        elif field.type == _MESSAGE:
            if field.is_repeated:
                for item in value:
                    changed = clean_event(item) or changed
            else:
                changed = clean_event(value) or changed
    return changed


def finite_or_none(text: str) -> float | None:
    """`json.loads`'s `parse_float`: a number a double cannot hold is null, as jsonb wants."""
    number = float(text)
    return number if math.isfinite(number) else None


def no_constant(_: str) -> Any:
    """`json.loads`'s `parse_constant` (NaN, Infinity, -Infinity): null."""
    return None
