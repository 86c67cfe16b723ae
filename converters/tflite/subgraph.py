"""Running a TFLite subgraph's operators through their handlers: execution-order checks, constant
DEQUANTIZE folding, and the nested graphs of WHILE and IF (ONNX Loop and If bodies).

A subgraph is converted either into the graph under construction (the main one, or inline: a WHILE's
condition evaluated once before the loop) or into a Graph of its own (a loop body, an If branch).
Nested graphs share the outer builder's set of names, since ONNX forbids a subgraph value to shadow
an outer one, and are refused when they hold channels-last operators, which the layout pass does not
rewrite inside subgraphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from netinspect.build import GraphBuilder, LayerEntry, convert_layers
from netinspect.converters.tflite.context import TFLITE, SubgraphState, TfliteContext, op_type, quantization
from netinspect.converters.tflite.flatbuffer import TflFile, TflOperator, TflSubgraph, TflTensor
from netinspect.converters.tflite.refused import REFUSED
from netinspect.converters.tflite.shape_fill import fill_missing_shapes
from netinspect.converters.tflite.variables import VariablePlan
from netinspect.errors import ModelFormatError, UnsupportedError
from netinspect.ir import Graph, Node, SourceLayer, SourceTensor, Value
from netinspect.jsonsafe import plain

CONSTANT_FOLDED = {"DEQUANTIZE", "DENSIFY"}
"""Ops whose output, when their input is a constant, is materialised by the consumer instead."""


COMPILED = {
    "ethos-u": "custom operator: an Arm Ethos-U NPU command stream compiled by Vela; the layers it "
    "replaced exist only as NPU commands",
    "edgetpu-custom-op": "custom operator: a Coral Edge TPU program compiled by edgetpu_compiler; the "
    "layers it replaced exist only as Edge TPU instructions",
}
"""Custom operators that hold a whole compiled accelerator program instead of layers."""


def layer_name(sub: TflSubgraph, op: TflOperator) -> str:
    """A TFLite operator has no name: it is known by its last output tensor."""
    outputs = [i for i in op.outputs if i >= 0]
    return sub.tensors[outputs[-1]].name if outputs else f"{op.opcode.lower()}_{op.index}"


def survey(model: TflFile) -> Iterator[LayerEntry]:
    """Every operator of every subgraph, for the one refusal that names all those without a handler."""
    for sub, op in [(graph, op) for graph in model.subgraphs for op in graph.operators]:
        if op.opcode == "CUSTOM":
            flex = (op.custom_code or "").startswith("Flex")
            refusal = "Flex (TensorFlow) op" if flex else REFUSED["CUSTOM"]
            refusal = COMPILED.get(op.custom_code or "", refusal)
        else:
            refusal = REFUSED.get(op.opcode)
        yield LayerEntry(layer_name(sub, op), op_type(op), refusal, registrable=True)


def check_order(sub: TflSubgraph, path: Path) -> list[TflOperator]:
    """The operators in execution order, refusing a tensor read before anything writes it (a cycle)
    or written twice."""
    available = set(sub.inputs) | {t.index for t in sub.tensors if t.has_data or t.is_variable}
    written: set[int] = set()
    writers = {i for op in sub.operators for i in op.outputs}
    for op in sub.operators:
        for i in op.inputs:
            if op.opcode == "CUSTOM" and i >= 0 and i not in writers:
                continue  # the kernel's own memory (Ethos-U's `_scratch` tensors): nothing writes it
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


def defer(state: SubgraphState, op: TflOperator) -> bool:
    """Operators that make no node: a DEQUANTIZE or DENSIFY of a constant (folded into its consumer),
    resource variables that only hold what their CALL_ONCE initialiser assigns (CALL_ONCE and
    VAR_HANDLE vanish, READ_VARIABLE becomes that constant), and variables the main graph assigns
    (variables.py: folded, or carried as state)."""
    if state.variables is not None and _assigned_variable(state, state.variables, op):
        return True
    if op.opcode == "CALL_ONCE":
        state.initial.update(initial_values(state.file, int(op.options.get("InitSubgraphIndex", 0))))
        return True
    if op.opcode == "VAR_HANDLE" and len(op.outputs) == 1:
        shared = op.options.get("SharedName", b"")
        state.handles[op.outputs[0]] = shared.decode() if isinstance(shared, bytes) else str(shared)
        return True
    if op.opcode == "READ_VARIABLE" and len(op.inputs) == 1 and len(op.outputs) == 1:
        name = state.handles.get(op.inputs[0])
        carried = state.variables is not None and name in state.variables.current
        if name is None or name not in state.initial or carried:
            return False
        state.folded[op.outputs[0]] = state.initial[name]
        return True
    if op.opcode not in CONSTANT_FOLDED or len(op.inputs) != 1 or len(op.outputs) != 1:
        return False
    source = state.graph.tensors[state.deferred.get(op.inputs[0], op.inputs[0])]  # DENSIFY → DEQUANTIZE
    if not source.has_data:
        return False
    state.deferred[op.outputs[0]] = source.index
    return True


def _assigned_variable(state: SubgraphState, plan: VariablePlan, op: TflOperator) -> bool:
    """Operators of variables the main graph assigns (variables.py) that make no node: folded ones,
    and assignments of state variables, which only rebind the variable's current value (a read of
    one is an Identity of that value: ops_flow.variable)."""
    if op.index in plan.skipped:
        return True
    name = state.handles.get(op.inputs[0]) if op.inputs else None
    if name not in plan.current:
        return False
    if op.opcode == "ASSIGN_VARIABLE" and len(op.inputs) == 2 and op.inputs[1] in state.stored:
        plan.current[name] = state.stored[op.inputs[1]]
        return True
    return False


def initial_values(model: TflFile, index: int) -> dict[str, TflTensor]:
    """What an initialiser subgraph assigns: shared name → constant, for ASSIGN_VARIABLE of a constant
    (directly or through a DEQUANTIZE of one) to a VAR_HANDLE."""
    if not 0 < index < len(model.subgraphs):
        return {}
    sub = model.subgraphs[index]
    handles: dict[int, str] = {}
    sources: dict[int, int] = {}
    values: dict[str, TflTensor] = {}
    for op in sub.operators:
        if op.opcode == "VAR_HANDLE" and op.outputs:
            shared = op.options.get("SharedName", b"")
            handles[op.outputs[0]] = shared.decode() if isinstance(shared, bytes) else str(shared)
        elif op.opcode in CONSTANT_FOLDED and op.inputs and op.outputs:
            sources[op.outputs[0]] = op.inputs[0]
        elif op.opcode == "ASSIGN_VARIABLE" and len(op.inputs) == 2 and op.inputs[0] in handles:
            value = sub.tensors[sources.get(op.inputs[1], op.inputs[1])]
            if value.has_data:
                values[handles[op.inputs[0]]] = value
    return values


def run_operators(
    builder: GraphBuilder, state: SubgraphState, path: Path, every: Iterable[LayerEntry] | None = None
) -> None:
    """Convert the subgraph's operators, in order, into `builder` (inputs already in state.stored);
    `every` is the whole file's survey, given with the main subgraph."""

    def contexts() -> Iterator[TfliteContext]:
        sub = state.graph
        filled = fill_missing_shapes(sub)
        for op in check_order(sub, path):
            if defer(state, op):
                builder.record.layers.append(_folded(state, op))
                continue
            for i in op.outputs:
                if i >= 0:
                    state.stored[i] = builder.unique(sub.tensors[i].name)
            ctx = TfliteContext(builder, state, op, layer_name(sub, op))
            if filled.intersection(op.outputs):
                ctx.step("param", "output shape computed from the inputs, as LiteRT's kernel does: the "
                                  "file records none")  # fmt: skip
            yield ctx

    convert_layers(builder, contexts(), every, "TFLite operators", show_refused=True)


def _folded(state: SubgraphState, op: TflOperator) -> SourceLayer:
    """The record of an operator that makes no node (a DEQUANTIZE of a constant, a variable's
    handle or read): its consumers read what it computes directly."""
    sub = state.graph

    def described(i: int) -> SourceTensor:
        t = sub.tensors[i]
        return SourceTensor(t.name, t.shape, t.dtype, quantization=quantization(t), value=state.stored.get(i))

    return SourceLayer(
        layer_name(sub, op),
        op_type(op),
        plain(op.options),
        [described(i) for i in op.inputs if i >= 0],
        [described(i) for i in op.outputs if i >= 0],
        note="folded: the operators that read its output read the constant or variable it stands for",
    )


def subgraph_at(ctx: TfliteContext, index: int, role: str) -> TflSubgraph:
    model = ctx.state.file
    if not 0 < index < len(model.subgraphs) or index == ctx.state.graph.index:
        raise ctx.error(f"{role} subgraph index {index} is not a subgraph of the model")
    return model.subgraphs[index]


def inline(
    ctx: TfliteContext, index: int, inputs: list[str], role: str, builder: GraphBuilder | None = None
) -> list[str]:
    """Subgraph `index` evaluated on the values `inputs`, its nodes added to `builder` (by default the
    graph the operator is in)."""
    sub = subgraph_at(ctx, index, role)
    if len(sub.inputs) != len(inputs):
        raise ctx.error(f"{role} subgraph takes {len(sub.inputs)} inputs, given {len(inputs)}")
    builder = builder or ctx.builder
    state = SubgraphState(ctx.state.file, sub, stored=dict(zip(sub.inputs, inputs, strict=True)))
    run_operators(builder, state, Path(str(ctx.builder.path)))
    return [_output(builder, state, i, ctx) for i in sub.outputs]


def nested_graph(
    ctx: TfliteContext,
    index: int,
    role: str,
    formal: list[tuple[str, str, tuple]] | None = None,
    outer: list[str] | None = None,
    then: int | None = None,
) -> Graph:
    """Subgraph `index` as an ONNX body: `formal` (name, dtype, shape) inputs declared before its own
    (a Loop's iteration number and condition), its inputs bound to `outer` values instead when given
    (an If branch reads the enclosing graph). With `then`, that subgraph (a WHILE's condition) is
    evaluated on the outputs and its result goes first (a Loop body's continue flag)."""
    sub = subgraph_at(ctx, index, role)
    builder = GraphBuilder(TFLITE, ctx.builder.path)
    builder.nest_in(ctx.builder)
    for name, dtype, shape in formal or []:
        builder.add_input(name, shape, dtype)
    state = SubgraphState(ctx.state.file, sub)
    for k, i in enumerate(sub.inputs):
        t = sub.tensors[i]
        if outer is not None:
            state.stored[i] = outer[k]
        else:
            state.stored[i] = builder.add_input(t.name, t.dims, t.dtype)
    run_operators(builder, state, Path(str(ctx.builder.path)))
    outputs = [_output(builder, state, i, ctx) for i in sub.outputs]
    if then is not None:
        outputs = [*inline(ctx, then, outputs, "condition", builder), *outputs]
    outputs = _distinct(builder, outputs, ctx.builder)
    graph = builder.finish(f"{ctx.name}/{role}", outputs)
    channels_last = [n.op_type for n in graph.nodes if n.layout] + [
        n for n, t in graph.tensors.items() if t.layout
    ]
    if channels_last:
        raise UnsupportedError(
            [
                f"{role} subgraph {index} of layer {ctx.name!r}: "
                "channels-last operators inside a loop or branch"
            ],
            ctx.builder.path,
        )
    return graph


def _output(builder: GraphBuilder, state: SubgraphState, i: int, ctx: TfliteContext) -> str:
    if i in state.stored:
        return state.stored[i]
    t = state.graph.tensors[i]
    if t.has_data or i in state.deferred:
        reader = SubgraphState(state.file, state.graph, deferred=state.deferred)
        no_op = TflOperator(-1, "CONSTANT", None, 1, [], [], {}, None)
        constant = TfliteContext(builder, reader, no_op, ctx.name)
        return constant.weight_of(t)
    raise ctx.error(f"subgraph {state.graph.index} output {t.name!r} is never computed")


def _distinct(builder: GraphBuilder, outputs: list[str], outer: GraphBuilder) -> list[str]:
    """ONNX graph outputs must be computed by the graph and distinct: inputs, repeats and values of the
    enclosing graph (an If branch that hands its arguments back, as TF's canonicalize_coordinates
    does) get an Identity."""
    inputs = {v.name for v in builder.inputs}
    result: list[str] = []
    for name in outputs:
        if name in inputs or name in result or name in builder.tensors or name not in builder.values:
            value = builder.values.get(name) or outer.values.get(name)
            if value is None:
                source = builder if name in builder.tensors else outer
                value = Value(name, source.dtype(name), source.shape(name))
            copy = builder.unique(f"{name}_out")
            builder.nodes.append(Node(builder.node_name(copy), "Identity", [name], [copy]))
            builder.values[copy] = Value(copy, value.dtype, value.shape)
            name = copy
        result.append(name)
    return result
