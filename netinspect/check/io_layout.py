"""A source runtime that works in its own layout (Keras, LiteRT: channels-last), seen in the IR's.

The layout pass records the source layout of every interface value it moved
(graph.metadata.properties["netinspect.io_layout"], {value name: "NHWC"}); a runner says through
`Runner.source_layouts` which of them it takes and returns as they are. `InIRLayout` wraps such a
runner: feeds go in transposed to its layout, outputs (and intermediates it names) come back in
the graph's, so runners and the comparison never carry layout code of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import Runner
from netinspect.ir import Graph
from netinspect.layout import channels_first, permute, permute_shape
from netinspect.layout_metadata import io_layouts


def in_ir_layout(runner: Runner, graph: Graph) -> Runner:
    """`runner` itself when it works in the IR layout, else wrapped to look as if it did."""
    layouts = runner.source_layouts(io_layouts(graph))
    moves = {}
    for name, layout in layouts.items():
        value = graph.value(name)
        ir_layout = value.layout if value is not None and value.layout else channels_first(layout)
        if sorted(ir_layout) == sorted(layout) and ir_layout != layout:
            moves[name] = (layout, ir_layout)
    return InIRLayout(runner, moves) if moves else runner


class InIRLayout:
    """A runner whose named interface values are transposed between its layout and the IR's."""

    def __init__(self, runner: Runner, moves: Mapping[str, tuple[str, str]]) -> None:
        self.runner = runner
        self.moves = dict(moves)
        """value name → (the runner's layout, the graph's layout)."""
        self.label = runner.label

    @property
    def inference_seconds(self) -> float:
        return self.runner.inference_seconds

    def prepare(self) -> None:
        self.runner.prepare()

    def layers(self) -> list[Layer] | None:
        return self.runner.layers()

    def input_specs(self) -> list[InputSpec]:
        specs = []
        for spec in self.runner.input_specs():
            move = self.moves.get(spec.name)
            if move is not None and len(spec.shape) == len(move[0]):
                spec = replace(spec, shape=permute_shape(spec.shape, *move))
            specs.append(spec)
        return specs

    def output_names(self) -> list[str]:
        return self.runner.output_names()

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        return {}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
        return self._back(self.runner.run(self._there(feeds)))

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        return self._back(self.runner.run_values(self._there(feeds), names))

    @property
    def demanded_steps(self) -> float | None:
        return getattr(self.runner, "demanded_steps", None)

    def kernel_variants(self, feeds: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """The wrapped runner's outputs under each of its kernel sets (if it has several), moved back."""
        variants = getattr(self.runner, "kernel_variants", None)
        if variants is None:
            return {}
        return {label: self._back(outputs) for label, outputs in variants(self._there(feeds)).items()}

    def _there(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: self._move(name, array, back=False) for name, array in feeds.items()}

    def _back(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self._move(name, value, back=True) for name, value in values.items()}

    def _move(self, name: str, value: Any, back: bool) -> Any:
        move = self.moves.get(name)
        if move is None or not isinstance(value, np.ndarray) or value.ndim != len(move[0]):
            return value
        src, dst = (move[0], move[1]) if back else (move[1], move[0])
        return permute(value, src, dst)
