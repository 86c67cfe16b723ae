"""Benchmark: the layout pass on channels-last graphs of n and 4n blocks, in one run.

    .venv/bin/python benchmarks/bench_layout_scale.py [--blocks 200]

Each block is what a Keras or TFLite CNN gives the pass: an NHWC Conv (HWIO kernel), Relu, an Add
of a per-channel constant and a residual Add, so every block needs Transposes wrapped around it,
pushed down and cancelled. The time for 4n blocks over the time for n is the measure: about 4 for
a pass that grows with the graph, 16 for one that rescans the graph at every step, as it did before
the pass indexed who reads each value and applied a sweep's edits at once (NASNetMobile's 940
nodes: 4.4 s then).
Target: ratio ≤ 8 (a growing heap costs Python a little more per node; a rescan costs 4×).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from netinspect import layout
from netinspect.build import GraphBuilder, LayerContext
from netinspect.ir import Graph, Metadata


def chain(blocks: int) -> Graph:
    rng = np.random.default_rng(0)
    builder = GraphBuilder("bench", None)
    x = builder.add_input("image", ("N", 8, 8, 4), layout="NHWC")

    def emit(name: str, op: str, inputs: list[str], attrs: dict | None = None, tag: str | None = None) -> str:
        ctx = LayerContext(builder, name, op, inputs, [name])
        ctx.node(op, inputs, ("N", 8, 8, 4), attrs, output=name, layout=tag)
        ctx.finish()
        return name

    def constant(name: str, array: np.ndarray, tag: str | None = None) -> str:
        ctx = LayerContext(builder, name, "weight", [], [name])
        return ctx.constant("w", array.astype(np.float32), layout=tag)

    for i in range(blocks):
        kernel = constant(f"k{i}", rng.normal(size=(3, 3, 4, 4)), "HWIO")
        conv = emit(f"conv{i}", "Conv", [x, kernel], {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, "NHWC")
        relu = emit(f"relu{i}", "Relu", [conv])
        shifted = emit(f"shift{i}", "Add", [relu, constant(f"b{i}", rng.normal(size=(4,)))])
        x = emit(f"sum{i}", "Add", [shifted, x])
    return builder.finish("chain", [x], Metadata(source_format="bench"))


def seconds(blocks: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        graph = chain(blocks)
        start = time.perf_counter()
        layout.canonicalize(graph)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    small = seconds(args.blocks, args.repeat)
    large = seconds(4 * args.blocks, args.repeat)
    print(f"{args.blocks:5d} blocks: {small:.3f} s")
    print(f"{4 * args.blocks:5d} blocks: {large:.3f} s")
    print(f"ratio 4n / n : {large / small:.1f}  (linear 4, quadratic 16; target <= 8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
