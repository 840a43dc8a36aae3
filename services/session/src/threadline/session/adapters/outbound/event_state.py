"""The state of a stored event, decoded without building the domain event object.

`eventsourcing`'s `JSONTranscoder` writes an event's fields as compact JSON, with UUIDs and
datetimes as `{"_type_": "uuid_hex" | "datetime_iso", "_data_": ...}`; reading it back through
its `object_hook` and building the event object costs several times what this does. Only what
the quick path decodes exactly as the library would is decoded here: anything else (another
transcoding, one nested below the top level, numbers `orjson` would not read as `json` does)
is answered with None, and the caller takes the library's path for that record.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)

from threadline.session.adapters.outbound.event_json import EventJSONTranscoder

Fields = dict[str, Any]
TRANSCODED = b'"_type_"'
# `orjson` reads an integer beyond 64 bits as a float, where `json` keeps it exact: a run of
# 19 digits anywhere (in a string too; those records only lose the quick path) sends the
# record to the library. Digits map to "0", everything else to "x".
DIGITS = bytes(ord("0") if ord("0") <= i <= ord("9") else ord("x") for i in range(256))
LONG_NUMBER = b"0" * 19
STANDARD = {"uuid_hex": UUIDAsHex, "decimal_str": DecimalAsStr, "datetime_iso": DatetimeAsISO}


def quick_path_applies(mapper: Mapper[Any]) -> bool:
    """The app stores plain JSON with the library's default transcodings. Others it registers
    (for its snapshots) are harmless: a `_type_` this module does not decode sends the record
    to the library's path."""
    transcoder = mapper.transcoder
    if not isinstance(transcoder, JSONTranscoder):
        return False
    if type(transcoder) not in (JSONTranscoder, EventJSONTranscoder):  # the library's reading
        return False
    if mapper.cipher is not None or mapper.compressor is not None:
        return False
    names = transcoder.names
    return all(type(names.get(name)) is kind for name, kind in STANDARD.items())


def uuid_text(hex_digits: str) -> str | None:
    """`str(UUID(hex_digits))` for the 32 hex digits `UUID.hex` writes, else None."""
    if len(hex_digits) != 32:
        return None
    try:
        h = bytes.fromhex(hex_digits).hex()
    except ValueError:
        return None
    if len(h) != 32:  # `fromhex` skips whitespace
        return None
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _decoded(value: Any) -> Any:
    """A top-level value as the quick path reads it: `_PLAIN` when it is not a transcoded
    value, `_AS_LIBRARY` when it is one only the library decodes exactly."""
    if type(value) is not dict or len(value) != 2 or "_type_" not in value:
        return _PLAIN
    if "_data_" not in value:
        return _PLAIN
    name, data = value["_type_"], value["_data_"]
    if type(data) is str:
        if name == DATETIME:
            return datetime.fromisoformat(data)
        if name == UUID_HEX and (text := uuid_text(data)) is not None:
            return text
    return _AS_LIBRARY


_PLAIN = object()
_AS_LIBRARY = object()
DATETIME, UUID_HEX = "datetime_iso", "uuid_hex"


class StateReader:
    """Decodes the stored states of one event type. The same top-level fields hold the same
    transcodings record after record: once learned, only those are looked at."""

    __slots__ = ("_transcoded",)

    def __init__(self) -> None:
        self._transcoded: tuple[tuple[str, str], ...] = ()  # (field, transcoding name)

    def fields(self, state: bytes) -> Fields | None:
        """The event's fields, UUIDs as their text and datetimes as datetimes; None when only
        the library's path decodes this state exactly."""
        if LONG_NUMBER in state.translate(DIGITS):
            return None
        try:
            fields = orjson.loads(state)
        except json.JSONDecodeError:  # NaN, Infinity, a float out of range: `json` reads them
            return None
        if type(fields) is not dict:
            return None
        # Every `"_type_"` in the text must be a top-level value decoded here; one more is
        # nested (or a key or a value of its own), and the library's object_hook must see it.
        expected = state.count(TRANSCODED)
        if expected == len(self._transcoded) and self._learned_ones(fields):
            return fields
        return self._every_one(fields, expected)

    def _learned_ones(self, fields: Fields) -> bool:
        """Decodes the learned fields; False when one is not the transcoding learned (the
        record then goes to `_every_one`, which finds the count short if any was decoded)."""
        for key, name in self._transcoded:
            value = fields.get(key)
            if type(value) is not dict or len(value) != 2 or value.get("_type_") != name:
                return False
            data = value.get("_data_")
            if type(data) is not str:
                return False
            if name == DATETIME:
                fields[key] = datetime.fromisoformat(data)
            elif (text := uuid_text(data)) is not None:
                fields[key] = text
            else:
                return False
        return True

    def _every_one(self, fields: Fields, expected: int) -> Fields | None:
        learned = []
        for key, value in fields.items():
            decoded = _decoded(value)
            if decoded is _AS_LIBRARY:
                return None
            if decoded is not _PLAIN:
                learned.append((key, value["_type_"]))
                fields[key] = decoded
        if len(learned) != expected:
            return None
        self._transcoded = tuple(learned)
        return fields
