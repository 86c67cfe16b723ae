"""The protobuf wire format, read and written without generated code: varints, tags, field spans.

ONNX files and other formats' weight files are protobuf messages whose weights are their largest
length-delimited fields. Readers walk fields over any buffer (an mmap of the file) and learn where
each field's bytes lie, so they decode the small fields and leave packed weights in the file.
See protobuf.dev, programming-guides/encoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message (truncated, bad tag, overlong varint)."""


class Field(NamedTuple):
    """One field occurrence: its number, wire type, and either the varint/fixed value or, for a
    length-delimited field, its length; [start, end) is its value's bytes in the buffer (a varint's
    too), and `tag` where the field begins, so that [tag, end) copies the whole field. A named
    tuple: an ONNX model's scan makes one per node and initializer, and a frozen dataclass took
    twice the time."""

    number: int
    wire: int
    value: int
    start: int
    end: int
    tag: int


def varint(buf: Any, pos: int, end: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it."""
    result = shift = 0
    while True:
        if pos >= end:
            raise WireError(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError(f"varint longer than 10 bytes at byte {pos}")


def fields(buf: Any, start: int, end: int) -> Iterator[Field]:
    """Every field of the message occupying buf[start:end], in order."""
    make = tuple.__new__  # a Field without its Python-level __new__: this loop runs per node
    pos = start
    while pos < end:
        tag = pos
        if buf[pos] < 0x80:  # most tags are one byte
            key, pos = buf[pos], pos + 1
        else:
            key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire == VARINT:
            value, after = varint(buf, pos, end)
            yield make(Field, (number, wire, value, pos, after, tag))
            pos = after
        elif wire == LENGTH:
            length, pos = varint(buf, pos, end)
            if pos + length > end:
                raise WireError(f"field {number} of {length} bytes at byte {pos} runs past its message")
            yield make(Field, (number, wire, length, pos, pos + length, tag))
            pos += length
        elif wire == FIXED32:
            if pos + 4 > end:
                raise WireError(f"truncated 32-bit field at byte {pos}")
            value = int.from_bytes(buf[pos : pos + 4], "little")
            yield make(Field, (number, wire, value, pos, pos + 4, tag))
            pos += 4
        elif wire == FIXED64:
            if pos + 8 > end:
                raise WireError(f"truncated 64-bit field at byte {pos}")
            value = int.from_bytes(buf[pos : pos + 8], "little")
            yield make(Field, (number, wire, value, pos, pos + 8, tag))
            pos += 8
        else:
            raise WireError(f"unsupported wire type {wire} (field {number}) at byte {pos}")


def signed(value: int, bits: int = 64) -> int:
    """A varint read as int32/int64 (two's complement; negative int32 are sign-extended to 64 bits)."""
    value &= (1 << 64) - 1
    if value >= 1 << 63:
        value -= 1 << 64
    if bits == 32 and not -(1 << 31) <= value < 1 << 31:
        value = (value + (1 << 31)) % (1 << 32) - (1 << 31)
    return value


def packed_varints(buf: Any, start: int, end: int) -> list[int]:
    values = []
    pos = start
    while pos < end:
        value, pos = varint(buf, pos, end)
        values.append(value)
    return values


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    """A field's tag, as it precedes the field's value."""
    return encode_varint(number << 3 | wire)
