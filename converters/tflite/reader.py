"""The TFLite reader: a .tflite flatbuffer (identifier "TFL3") → IR, channels-last tagged for the
layout pass.

Subgraph 0 is the model. Each TFLite tensor keeps its name as its IR value name (made unique), so
`check` can read the same tensor from LiteRT by name. Each operator is one source layer named
after its (last) output tensor. Graph inputs of rank 4 are tagged NHWC; channel-sensitive ops are
emitted with layout="NHWC" and the layout pass (netinspect.layout) makes the graph NCHW.
"""

from __future__ import annotations

from pathlib import Path

from netinspect import registry
from netinspect.build import GraphBuilder, run_handler
from netinspect.converters.tflite import ops as _ops  # noqa: F401  (registers the handlers)
from netinspect.converters.tflite.context import TFLITE, SubgraphState, TfliteContext, op_type
from netinspect.converters.tflite.flatbuffer import IDENTIFIER, TflFile, TflOperator, TflSubgraph
from netinspect.converters.tflite.metadata import describe_model
from netinspect.errors import ModelFormatError
from netinspect.ir import Graph
from netinspect.registry import LoadOptions, Probe, Reader

CONSTANT_FOLDED = {"DEQUANTIZE"}
"""Ops whose output, when their input is a constant, is materialised by the consumer instead."""

REFUSED = {
    "CUSTOM": "custom operator: its semantics are not in the file",
    "DELEGATE": "delegate operator: runs in an accelerator, not a TFLite kernel",
}


def match(probe: Probe) -> str | None:
    """ "TFL3" at bytes 4–7; other "TFL" identifiers are claimed too, to be refused by name."""
    return "tflite" if probe.head[4:7] == IDENTIFIER[:3] else None


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    model = TflFile(probe.path)
    graph = convert(model, probe.path)
    describe_model(model, graph)
    return graph


READER = Reader(
    name=TFLITE,
    description="TensorFlow Lite flatbuffers (.tflite): float32, float16, dynamic-range and int8/uint8",
    supports="read, convert to ONNX (QDQ for quantized models), check against the LiteRT interpreter",
    runtime="litert",
    match=match,
    open=open_graph,
)


def layer_name(sub: TflSubgraph, op: TflOperator) -> str:
    """A TFLite operator has no name: it is known by its last output tensor."""
    outputs = [i for i in op.outputs if i >= 0]
    return sub.tensors[outputs[-1]].name if outputs else f"{op.opcode.lower()}_{op.index}"


def convert(model: TflFile, path: Path) -> Graph:
    sub = model.subgraphs[0]
    _refuse_unsupported(sub, path)
    builder = GraphBuilder(TFLITE, path)
    state = SubgraphState(model, sub)
    _declare_inputs(builder, state)
    order = _check_order(sub, path)
    for op in order:
        if _defer(state, op):
            continue
        for i in op.outputs:
            if i >= 0:
                state.stored[i] = builder.unique(sub.tensors[i].name)
        ctx = TfliteContext(builder, state, op, layer_name(sub, op))
        fn = registry.handler(TFLITE, op_type(op))
        assert fn is not None
        run_handler(ctx, fn)
    outputs = [_output_value(builder, state, i) for i in sub.outputs]
    graph = builder.finish(Path(path).stem, outputs)
    return graph


def _refuse_unsupported(sub: TflSubgraph, path: Path) -> None:
    unsupported = registry.Unsupported(TFLITE, path)
    for op in sub.operators:
        key = op_type(op)
        if registry.handler(TFLITE, key) is not None:
            continue
        name = layer_name(sub, op)
        if op.opcode == "CUSTOM":
            kind = "Flex (TensorFlow) op" if (op.custom_code or "").startswith("Flex") else REFUSED["CUSTOM"]
            unsupported.add(name, key, kind)
        else:
            unsupported.add(name, key, REFUSED.get(op.opcode))
    unsupported.check("TFLite operators")


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


def _check_order(sub: TflSubgraph, path: Path) -> list[TflOperator]:
    """The operators in execution order, refusing a tensor read before anything writes it (a cycle)
    or written twice."""
    available = set(sub.inputs) | {t.index for t in sub.tensors if t.has_data or t.is_variable}
    written: set[int] = set()
    for op in sub.operators:
        for i in op.inputs:
            if i >= 0 and i not in available:
                producer = next((o.index for o in sub.operators if i in o.outputs), None)
                why = (
                    f"which operator {producer} writes later: the operators form a cycle"
                    if producer is not None and producer >= op.index
                    else "which nothing writes"
                )
                raise ModelFormatError(
                    f"not a valid TFLite model: operator {op.index} ({op.opcode}) reads tensor {i} "
                    f"({sub.tensors[i].name!r}), {why}",
                    path,
                )
        for i in op.outputs:
            if i in written or (i >= 0 and sub.tensors[i].has_data):
                raise ModelFormatError(
                    f"not a valid TFLite model: tensor {i} ({sub.tensors[i].name!r}) is written twice",
                    path,
                )
            written.add(i)
            available.add(i)
    return sub.operators


def _defer(state: SubgraphState, op: TflOperator) -> bool:
    """A DEQUANTIZE of a constant (float16 or int8 weights) is folded into its consumer."""
    if op.opcode not in CONSTANT_FOLDED or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    source = state.graph.tensors[op.inputs[0]]
    if not source.has_data:
        return False
    state.deferred[op.outputs[0]] = state.deferred.get(source.index, source.index)
    return True


def _output_value(builder: GraphBuilder, state: SubgraphState, i: int) -> str:
    if i in state.stored:
        return state.stored[i]
    t = state.graph.tensors[i]
    raise ModelFormatError(f"the model's output {t.name!r} is a constant, not computed", builder.path)
