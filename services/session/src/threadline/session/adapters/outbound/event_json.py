"""Stored events written as `eventsourcing`'s `JSONTranscoder` writes them, by `orjson`.

The library encodes an event's fields with `json` and a Python `default` for every UUID and
datetime: a sixth of the session's CPU an event appended (`make bench`, benchmark 2). This
transcoder writes the same JSON value with `orjson`, turning the top-level UUIDs and datetimes
into the library's `{"_type_": ..., "_data_": ...}` first; what sits deeper reaches the
library's own transcodings through `default` (datetimes and dataclasses are passed through to
it, as `json` passes them). Reading is the library's, unchanged.

Where `orjson` would write something else than `json`, the library writes the record instead:
- a UUID below the top level (`orjson` writes it as a plain string): any text shaped like the
  middle of a UUID sends the record to the library (a string that merely looks like one only
  costs the quicker path);
- a float that is not finite (`orjson` writes `null`, `json` `NaN`): more `null`s than the
  top level's `None`s do the same;
- anything `orjson` refuses (integers beyond 64 bits, keys that are not strings, a type no
  transcoding is registered for): the library then writes it, or raises as it always did.
One difference is left: a plain `Enum` member (no `str` or `int` mixin) nested in a field is
written as its value, where the library refuses it unless a transcoding is registered for its
type, which this transcoder then declines to shortcut at all (`register`). The domain's events
hold none.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# `orjson`'s UUID is "8-4-4-4-12" lowercase hex digits; its middle is enough to suspect one.
_UUID_MIDDLE = re.compile(rb"-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-")
_NULL = b"null"


class EventJSONTranscoder(JSONTranscoder):
    """`JSONTranscoder` with a quicker `encode` that writes the same JSON value."""

    def __init__(self) -> None:
        super().__init__()
        self._quick = False

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        # The shortcut applies while UUIDs and datetimes are the library's standard
        # transcodings, and while no transcoding is registered for a type `orjson` would write
        # natively without asking `default` (enums; UUID apart, handled at the top level).
        types = self.types
        self._quick = (
            type(types.get(UUID)) is UUIDAsHex
            and type(types.get(datetime)) is DatetimeAsISO
            and not any(issubclass(kind, enum.Enum) for kind in types)
        )

    def encode(self, obj: Any) -> bytes:
        if not self._quick or type(obj) is not dict:
            return super().encode(obj)
        fields: dict[str, Any] = {}
        nones = 0
        for name, value in obj.items():
            kind = type(value)
            if kind is UUID:
                value = {"_type_": "uuid_hex", "_data_": value.hex}
            elif kind is datetime:
                value = {"_type_": "datetime_iso", "_data_": value.isoformat()}
            elif value is None:
                nones += 1
            fields[name] = value
        try:
            data = orjson.dumps(fields, default=self._registered, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().encode(obj)
        if _UUID_MIDDLE.search(data) is not None or (_NULL in data and data.count(_NULL) != nones):
            return super().encode(obj)
        return data

    def _registered(self, o: Any) -> dict[str, Any]:
        """`default`: a registered transcoding, as the library writes it; anything else makes
        `orjson` give up, and the library writes the record (or raises, as it would)."""
        transcoding = self.types.get(type(o))
        if transcoding is None:
            raise TranscodingNotRegisteredError(type(o).__name__)
        return {"_type_": transcoding.name, "_data_": transcoding.encode(o)}


TRANSCODER_TOPIC = f"{__name__}:EventJSONTranscoder"
