"""The TFLite reader: a .tflite flatbuffer (identifier "TFL3") → IR, channels-last tagged for the
layout pass.

Subgraph 0 is the model. Each TFLite tensor keeps its name as its IR value name (made unique), so
`check` can read the same tensor from LiteRT by name. Each operator is one source layer named
after its (last) output tensor. Graph inputs of rank 4 are tagged NHWC; channel-sensitive ops are
emitted with layout="NHWC" and the layout pass (netinspect.layout) makes the graph NCHW.
"""

from __future__ import annotations

from pathlib import Path

from netinspect.build import GraphBuilder
from netinspect.converters.tflite import (  # noqa: F401  (handlers)
    ops_array,
    ops_detection,
    ops_flow,
    ops_math,
    ops_mediapipe,
    ops_more,
    ops_nn,
    ops_placement,
    ops_segments,
    ops_selection,
    ops_shape,
    ops_signal,
    ops_stablehlo,
    ops_values,
)
from netinspect.converters.tflite.context import TFLITE, SubgraphState
from netinspect.converters.tflite.flatbuffer import TflFile
from netinspect.converters.tflite.metadata import describe_model
from netinspect.converters.tflite.state import declare_state, final_state
from netinspect.converters.tflite.subgraph import initial_values, run_operators, survey
from netinspect.converters.tflite.variables import initial_of, plan_variables
from netinspect.errors import ModelFormatError
from netinspect.ir import Graph
from netinspect.registry import LoadOptions, Probe


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    model = TflFile(probe.path)
    graph = convert(model, probe.path, exact_int8=options.format_options.get("exact-int8") == "on")
    describe_model(model, graph)
    return graph


def convert(model: TflFile, path: Path, exact_int8: bool = False) -> Graph:
    sub = model.subgraphs[0]
    builder = GraphBuilder(TFLITE, path)
    state = SubgraphState(model, sub, exact_int8=exact_int8)
    _declare_inputs(builder, state)
    state.variables = plan_variables(sub, initial_of(model, sub, initial_values))
    declare_state(builder, state.variables)
    run_operators(builder, state, path, survey(model))
    outputs = [_output_value(builder, state, i) for i in sub.outputs]
    outputs += final_state(builder, state.variables)
    graph = builder.finish(Path(path).stem, outputs)
    return graph


NCHW_TO_NHWC = [0, 2, 3, 1]


def _declare_inputs(builder: GraphBuilder, state: SubgraphState) -> None:
    """Rank-4 inputs are tagged NHWC, except one the model itself transposes from NCHW first (a
    PyTorch export): it is channels-first already, and its TRANSPOSE meets the layout pass's own."""
    for i in state.graph.inputs:
        t = state.graph.tensors[i]
        shape = tuple(d if d >= 0 else None for d in t.shape)
        layout = "NHWC" if len(shape) == 4 and not _transposed_from_nchw(state, i) else None
        state.stored[i] = builder.add_input(t.name, shape, t.dtype, layout=layout)


def _transposed_from_nchw(state: SubgraphState, index: int) -> bool:
    consumers = [op for op in state.graph.operators if index in op.inputs]
    for op in consumers:
        if op.opcode != "TRANSPOSE" or op.inputs[0] != index or len(op.inputs) < 2:
            return False
        perm = state.graph.tensors[op.inputs[1]]
        if not perm.has_data or [int(p) for p in perm.data().reshape(-1)] != NCHW_TO_NHWC:
            return False
    return bool(consumers)


def _output_value(builder: GraphBuilder, state: SubgraphState, i: int) -> str:
    if i in state.stored:
        return state.stored[i]
    t = state.graph.tensors[i]
    raise ModelFormatError(f"the model's output {t.name!r} is a constant, not computed", builder.path)
