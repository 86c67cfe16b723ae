"""What the layout pass records in a converted model's metadata, and how `check` reads it back:
the one home of the keys and of `AxisMove`, encoded and decoded here so both sides agree.

- IO_LAYOUT: {graph input/output name: source layout} for interface values made channels-first;
- VALUE_LAYOUTS: {value name: AxisMove as JSON}, how an ONNX value holds the source value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from netinspect.errors import ModelFormatError
from netinspect.ir import Graph, Metadata

IO_LAYOUT = "netinspect.io_layout"
"""metadata property: {graph input/output name: source layout} for tensors made channels-first."""
VALUE_LAYOUTS = "netinspect.value_layouts"
"""metadata property: {value name: AxisMove as JSON} — how the ONNX value holds the source value."""


@dataclass(frozen=True)
class AxisMove:
    """How a converted value holds a source value: transposed by `perm`, after unflattening the
    trailing axis to `unflatten` (a Flatten whose Dense weights took the permutation) and flattening
    it again. What `check` applies to a source layer's output before comparing it."""

    perm: tuple[int, ...]
    unflatten: tuple[int, ...] | None = None

    def apply(self, array: np.ndarray) -> np.ndarray:
        if self.unflatten is None:
            return np.transpose(array, self.perm) if array.ndim == len(self.perm) else array
        if array.ndim != 2 or array.shape[1] != int(np.prod(self.unflatten)):
            return array
        full = array.reshape((array.shape[0], *self.unflatten))
        return np.transpose(full, self.perm).reshape(array.shape[0], -1)

    def to_json(self) -> object:
        return (
            list(self.perm)
            if self.unflatten is None
            else {"perm": list(self.perm), "unflatten": list(self.unflatten)}
        )

    @classmethod
    def from_json(cls, value: object) -> AxisMove:
        if isinstance(value, dict):
            return cls(tuple(int(a) for a in value["perm"]), tuple(int(d) for d in value["unflatten"]))
        return cls(tuple(int(a) for a in value))  # type: ignore[union-attr]


def write_io_layouts(metadata: Metadata, layouts: Mapping[str, str]) -> None:
    """Record the source layout of interface values made channels-first (nothing when none)."""
    if layouts:
        metadata.properties[IO_LAYOUT] = json.dumps(dict(layouts), sort_keys=True)


def write_value_moves(metadata: Metadata, moves: Mapping[str, AxisMove]) -> None:
    """Record how values hold their source values (nothing when none moved)."""
    if moves:
        recorded = {name: move.to_json() for name, move in moves.items()}
        metadata.properties[VALUE_LAYOUTS] = json.dumps(recorded, sort_keys=True)


def io_layouts(graph: Graph) -> dict[str, str]:
    """The recorded source layout of interface values whose layout is not the IR's."""
    text = graph.metadata.properties.get(IO_LAYOUT)
    if not text:
        return {}
    try:
        layouts = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"metadata {IO_LAYOUT} is not valid JSON: {e}") from e
    if not isinstance(layouts, dict) or not all(isinstance(v, str) for v in layouts.values()):
        raise ModelFormatError(f"metadata {IO_LAYOUT} must map value names to layouts")
    return {str(k): v for k, v in layouts.items()}


def value_moves(graph: Graph) -> dict[str, AxisMove]:
    """The recorded AxisMove of every value that holds its source value in other axes."""
    text = graph.metadata.properties.get(VALUE_LAYOUTS)
    if not text:
        return {}
    try:
        recorded = json.loads(text)
        return {str(name): AxisMove.from_json(move) for name, move in recorded.items()}
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise ModelFormatError(f"metadata {VALUE_LAYOUTS} is not a map of value names to axes: {e}") from e
