"""Decoded Caffe messages: the same `Msg` whether a field came from a prototxt or a .caffemodel.

Every field holds a list of values (protobuf: a repeated field keeps all, a singular one its last).
Blob data is not decoded: `BlobData` says where the floats lie in the file (see binary.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Msg:
    """One message of type `type` (a name from schema.MESSAGES, or None for an untyped one)."""

    type: str | None
    fields: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        self.fields.setdefault(name, []).append(value)

    def has(self, name: str) -> bool:
        return bool(self.fields.get(name))

    def get(self, name: str, default: Any = None) -> Any:
        """A singular field: its last value, else `default`."""
        values = self.fields.get(name)
        return values[-1] if values else default

    def all(self, name: str) -> list[Any]:
        return list(self.fields.get(name, ()))

    def sub(self, name: str) -> Msg:
        """A message field (merged when given more than once, as protobuf does), or an empty one."""
        values = [v for v in self.fields.get(name, ()) if isinstance(v, Msg)]
        if not values:
            return Msg(None)
        if len(values) == 1:
            return values[0]
        merged = Msg(values[0].type)
        for value in values:
            for key, items in value.fields.items():
                merged.fields.setdefault(key, []).extend(items)
        return merged


@dataclass(frozen=True)
class Segment:
    """A run of `count` little-endian numbers of `itemsize` bytes, `stride` bytes apart, at `offset`."""

    offset: int
    count: int
    stride: int
    itemsize: int


@dataclass
class BlobData:
    """Where a BlobProto's `data` (float32) or `double_data` (float64) values lie in the file."""

    segments: list[Segment] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.segments)
