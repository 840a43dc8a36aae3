"""Hypothesis strategies for hostile gRPC requests of any protobuf type (test-only: needs the
`hypothesis` dev dependency).

`requests(Type)` draws messages of that type whose fields are left unset or take ordinary and
hostile values: ids (the `known` ones a test passes, random UUIDs), text with NUL or over every
bound, integers across their type's range, NaN and infinities, `Timestamp`s inside and far
outside their range, nested messages, lists. `request_bytes(Type)` draws what a broken or
hostile client might send instead: random bytes, a valid message with bytes appended or cut,
a string field holding invalid UTF-8 (a lone surrogate as CESU-8, `ED A0 80`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import strategies as st

Descriptor = Any  # google.protobuf's Descriptor (upb's is typed apart)

INT_RANGES: dict[int, tuple[int, int]] = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
HOSTILE_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "active",
    "completed",
    "text",
    "template",
    "csv",
    "jsonl",
    "' OR 1=1 --",
    "%00",
    "../../etc/passwd",
    "{{1}}",
    "[" * 200,
    '{"name": "t", "language": {"code": "en"}}',
    "\u202e\ufeff🙂",
    "9" * 20,
)
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799


def text(known: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Ids, words a service knows, random and hostile text, and text over any bound."""
    choices: list[st.SearchStrategy[str]] = [
        st.sampled_from(HOSTILE_TEXT),
        st.uuids().map(str),
        st.text(max_size=40),
        st.integers(min_value=65, max_value=20_000).map(lambda n: "x" * n),
        st.text(min_size=1, max_size=8).map(lambda t: t * 700),
    ]
    if known:
        choices.insert(0, st.sampled_from(list(known)))
    return st.one_of(choices)


def timestamps() -> st.SearchStrategy[Timestamp]:
    inside = st.builds(
        Timestamp,
        seconds=st.integers(MIN_SECONDS, MAX_SECONDS),
        nanos=st.integers(0, 999_999_999),
    )
    anywhere = st.builds(
        Timestamp,
        seconds=st.integers(-(2**63), 2**63 - 1),
        nanos=st.integers(-(2**31), 2**31 - 1),
    )
    return st.one_of(inside, anywhere)


def requests(
    message: type[Message], *, known: Sequence[str] = (), depth: int = 3
) -> st.SearchStrategy[Message]:
    """Messages of type `message`, each field unset or drawn from its type's hostile values."""
    return _messages(message.DESCRIPTOR, message, tuple(known), depth)


def request_bytes(message: type[Message], *, known: Sequence[str] = ()) -> st.SearchStrategy[bytes]:
    """Bytes that are not (or not only) a valid serialized `message`."""
    valid = requests(message, known=known).map(lambda m: m.SerializeToString())
    return st.one_of(
        st.binary(max_size=512),
        st.tuples(valid, st.binary(min_size=1, max_size=64)).map(lambda p: p[0] + p[1]),
        valid.filter(len).flatmap(lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n])),
        st.sampled_from(_invalid_utf8(message.DESCRIPTOR)),
    )


def _messages(
    descriptor: Descriptor, cls: Any, known: tuple[str, ...], depth: int
) -> st.SearchStrategy[Message]:
    if descriptor.full_name == "google.protobuf.Timestamp":
        return timestamps()
    fields = {
        f.name: st.one_of(st.none(), _field(f, known, depth))
        for f in descriptor.fields
        if depth > 0 or f.type != FieldDescriptor.TYPE_MESSAGE
    }
    return st.fixed_dictionaries(fields).map(
        lambda values: cls(**{k: v for k, v in values.items() if v is not None})
    )


def _field(field: FieldDescriptor, known: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
        return st.dictionaries(
            _single(key, known, depth), _single(value, known, depth - 1), max_size=3
        )
    if field.is_repeated:
        return st.lists(_single(field, known, depth - 1), max_size=3)
    return _single(field, known, depth - 1)


def _single(field: FieldDescriptor, known: tuple[str, ...], depth: int) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return text(known)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=2048)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(width=64 if kind == FieldDescriptor.TYPE_DOUBLE else 32)
    if kind == FieldDescriptor.TYPE_ENUM:
        return st.integers(-(2**31), 2**31 - 1)
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return st.one_of(st.integers(-2, 6000), st.integers(low, high)).filter(
            lambda n: low <= n <= high
        )
    nested: Descriptor = field.message_type
    return _messages(nested, message_factory.GetMessageClass(nested), known, max(depth, 0))


def _invalid_utf8(descriptor: Descriptor) -> list[bytes]:
    """For each string field: the field holding CESU-8 of a lone surrogate, and a bare 0xFF."""
    found = [b"\xff", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"]
    for field in descriptor.fields:
        if field.type == FieldDescriptor.TYPE_STRING:
            tag = bytes([(field.number << 3) | 2]) if field.number < 16 else b""
            if tag:
                found += [tag + b"\x03\xed\xa0\x80", tag + b"\x02\xc3\x28"]
    return found
