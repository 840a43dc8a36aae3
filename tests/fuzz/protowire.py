"""The protobuf wire format written by hand, so a request can carry what the protobuf library
refuses to serialize: invalid UTF-8 in a string, wrong wire types, overlong varints, fields the
schema does not have, a Timestamp out of range."""

from __future__ import annotations


def varint(value: int, *, overlong: int = 0) -> bytes:
    """`value` as a base-128 varint (negative as 64-bit two's complement), padded with
    `overlong` redundant continuation bytes."""
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            break
        out.append(byte | 0x80)
    if overlong:
        out[-1] |= 0x80
        out += b"\x80" * (overlong - 1) + b"\x00"
    return bytes(out)


def key(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


def varint_field(number: int, value: int, *, overlong: int = 0) -> bytes:
    return key(number, 0) + varint(value, overlong=overlong)


def bytes_field(number: int, data: bytes) -> bytes:
    return key(number, 2) + varint(len(data)) + data


def fixed32_field(number: int, data: bytes) -> bytes:
    return key(number, 5) + data[:4].ljust(4, b"\x00")


def fixed64_field(number: int, data: bytes) -> bytes:
    return key(number, 1) + data[:8].ljust(8, b"\x00")


def text(value: str) -> bytes:
    """A string's bytes; lone surrogates become invalid UTF-8 (ED A0 80), as a hostile client
    would send them."""
    return value.encode("utf-8", "surrogatepass")
