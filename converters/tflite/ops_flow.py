"""TFLite's recurrent and control-flow operators: the fused LSTM, RNN and its sequence form, WHILE,
IF and STABLEHLO_COMPOSITE over subgraphs, and resource variables (folded where they only hold their
initial value, refused otherwise).
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite import exact_lstm, exact_svdf
from netinspect.converters.tflite.context import TFLITE, TfliteContext
from netinspect.converters.tflite.subgraph import inline, nested_graph
from netinspect.registry import layer

LSTM_GATES = {"i": 0, "f": 1, "c": 2, "o": 3}
"""TFLite's gate order in the LSTM inputs (input 1 + gate: input weights, 5 + gate: recurrent, 12 + gate:
biases); ONNX LSTM stacks them i, o, f, c."""


def _float_const(ctx: TfliteContext, i: int) -> np.ndarray:
    """A constant input's values as float32 (float16 weights widened; int8 weights, and the int32
    biases and int16 cell state of a full-integer LSTM, dequantized here)."""
    t = ctx.need(i)
    source = ctx.state.graph.tensors[ctx.state.deferred.get(t.index, t.index)]
    values = np.asarray(ctx.const_of(source), dtype=np.float32)
    if source.quant is not None and source.dtype in ("int8", "uint8", "int16", "int32"):
        scale = source.quant.scale.astype(np.float32)
        zero = source.quant.zero_point.astype(np.float32)
        shape = [1] * values.ndim
        if scale.size > 1:
            shape[source.quant.axis] = scale.size
        values = (values - zero.reshape(shape)) * scale.reshape(shape)
    return values


LSTM_INPUTS = {"weights": 1, "recurrent": 5, "peephole": 9, "bias": 12, "projection": 16}
"""Where one direction's tensors start among an LSTM's inputs (the backward direction of
BIDIRECTIONAL_SEQUENCE_LSTM: 17 further on); its states are inputs 18, 19 (bidirectional: 35–38)."""


@layer(TFLITE, "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(ctx: TfliteContext) -> None:
    """The fused Keras LSTM → ONNX LSTM, time-major (onnxruntime runs only layout=0), gates i, o, f, c.
    LSTM (the full kernel, same 24 inputs) is one step of it on [batch, in], from its state variables;
    BIDIRECTIONAL_SEQUENCE_LSTM is ONNX's bidirectional LSTM, its outputs apart or merged."""
    if exact_lstm.applies(ctx):
        exact_lstm.lstm(ctx)
        return
    single, both = ctx.type == "LSTM", ctx.type == "BIDIRECTIONAL_SEQUENCE_LSTM"
    if single and int(ctx.option("KernelType", 0)) != 0:
        raise ctx.error("the BASIC LSTM kernel (weights concatenated in 5 inputs) is not supported")
    offsets = [0, 17] if both else [0]
    states = [(35, 36), (37, 38)] if both else [(18, 19)]
    if ctx.tensor(1) is None:
        raise ctx.error("LSTM with CIFG (coupled input and forget gates) is not supported")
    checks = [(o + LSTM_INPUTS[k], k.replace("peephole", "peephole connections")) for o in offsets
              for k in ("peephole", "projection")]  # fmt: skip
    checks += [(39, "an auxiliary input")] if both else [(20, "layer normalization")]
    for i, what in checks:
        if ctx.tensor(i) is not None:
            raise ctx.error(f"LSTM with {what} is not supported")
    x_shape = ctx.in_shape(0)
    batch_major = not single and not ctx.option("TimeMajor", False)
    if single:
        steps, batch = 1, x_shape[0]
    else:
        steps, batch = (x_shape[1], x_shape[0]) if batch_major else (x_shape[0], x_shape[1])
    hidden = ctx.need(LSTM_INPUTS["recurrent"]).shape[0]
    order = "iofc"

    def stacked(start: int, extra: list[np.ndarray]) -> np.ndarray:
        """One direction's four gate tensors in ONNX order (then `extra`), directions stacked."""
        gates = [[_float_const(ctx, o + start + LSTM_GATES[g]) for g in order] for o in offsets]
        return np.stack([np.concatenate([*direction, *extra]) for direction in gates])

    w, r = stacked(LSTM_INPUTS["weights"], []), stacked(LSTM_INPUTS["recurrent"], [])
    b = stacked(LSTM_INPUTS["bias"], [np.zeros(4 * hidden, np.float32)])
    ctx.step("fold", "gate weights and biases stacked in ONNX order i, o, f, c (TFLite: i, f, c, o)")

    def state(i: int) -> np.ndarray:
        return _float_const(ctx, i) if ctx.need(i).has_data else np.zeros((batch, hidden), np.float32)

    initial = [np.stack([state(pair[k]) for pair in states]) for k in (0, 1)]
    act = {4: "Tanh", 1: "Relu", 0: "Tanh"}.get(int(ctx.option("FusedActivationFunction", 4)))
    if act is None:
        raise ctx.error(f"LSTM activation {ctx.option('FusedActivationFunction')} is not supported")
    clip = float(ctx.option("CellClip", 0.0))
    if clip > 0:
        ctx.step("param", f"cell_clip {clip:g} not applied: ONNX LSTM has no cell-state clip (its `clip` "
                          "bounds gate inputs); exact while |cell state| stays below it")  # fmt: skip
    x = ctx.x(0)
    if batch_major:
        x = ctx.node("Transpose", [x], (steps, batch, x_shape[2]), {"perm": [1, 0, 2]})
    elif single:
        x = ctx.node("Unsqueeze", [x, ctx.ints([0], "axes")], (1, *x_shape))
    attrs = {"hidden_size": hidden, "activations": ["Sigmoid", act, act] * len(offsets)}
    if both:
        attrs["direction"] = "bidirectional"
    inputs = [x, ctx.constant("W", w), ctx.constant("R", r), ctx.constant("B", b), "",
              ctx.constant("initial_h", initial[0]), ctx.constant("initial_c", initial[1])]  # fmt: skip
    y = ctx.node("LSTM", inputs, (steps, len(offsets), batch, hidden), attrs)
    if single:
        ctx.emit("Reshape", [y, ctx.ints([batch, hidden])])
        return
    _sequence_outputs(ctx, y, steps, batch, hidden, len(offsets), batch_major)


def _sequence_outputs(ctx: TfliteContext, y: str, steps: int, batch: int, units: int, directions: int,
                      batch_major: bool) -> None:  # fmt: skip
    """An ONNX RNN/LSTM's Y [steps, directions, batch, units] as the TFLite op's outputs: one sequence per
    direction, or (merge_outputs) both concatenated on the last axis; batch-major when the op is."""
    order = [1, 0, 2] if batch_major else [0, 1, 2]
    if directions == 2 and ctx.option("MergeOutputs", False):
        merged = ctx.node("Transpose", [y], (steps, batch, 2, units), {"perm": [0, 2, 1, 3]})
        merged = ctx.node("Reshape", [merged, ctx.ints([steps, batch, 2 * units])], (steps, batch, 2 * units))
        ctx.emit("Transpose", [merged], {"perm": order})
        return
    for k in range(directions):
        direction = ctx.constant("direction", np.int64(k))
        single = ctx.node("Gather", [y, direction], (steps, batch, units), {"axis": 1})
        ctx.emit("Transpose", [single], {"perm": order}, k=k)


@layer(TFLITE, "RNN", "UNIDIRECTIONAL_SEQUENCE_RNN", "BIDIRECTIONAL_SEQUENCE_RNN")
def simple_rnn(ctx: TfliteContext) -> None:
    """h ← act(x·Wᵀ + h·Rᵀ + b) per step (RnnBatchStep) → ONNX RNN; RNN is one step of it on [batch, in].
    Inputs per direction: W [units, in], R [units, units], b [units], the hidden state (a variable:
    zeros until a run writes it, so a converted run is LiteRT's first) — inputs 1–4, then 5–8 for the
    backward direction of BIDIRECTIONAL_SEQUENCE_RNN, whose outputs are the forward and backward
    sequences, or both concatenated on the last axis (merge_outputs)."""
    both = ctx.type == "BIDIRECTIONAL_SEQUENCE_RNN"
    directions = [1, 5] if both else [1]
    if both and any(ctx.tensor(i) is not None for i in (9, 10, 11)):
        raise ctx.error("an auxiliary input (stacked bidirectional RNN) is not supported")
    if any(ctx.need(i + k).dtype != "float32" for i in directions for k in (0, 1)):
        raise ctx.error("int8 weights (hybrid RNN, inputs quantized at run time) are not supported")
    act = {1: "Relu", 4: "Tanh"}.get(int(ctx.option("FusedActivationFunction", 0)))
    if act is None:
        raise ctx.error(f"activation {ctx.option('FusedActivationFunction', 0)}: ONNX RNN takes Tanh or Relu")
    units = ctx.need(1).shape[0]
    sequence = ctx.type != "RNN"
    x_shape = ctx.in_shape(0)
    batch_major = sequence and not ctx.option("TimeMajor", False)
    if sequence:
        steps, batch = (x_shape[1], x_shape[0]) if batch_major else (x_shape[0], x_shape[1])
    else:
        steps, batch = 1, x_shape[0]
    x = ctx.x(0)
    if batch_major:
        x = ctx.node("Transpose", [x], (steps, batch, x_shape[2]), {"perm": [1, 0, 2]})
    elif not sequence:
        x = ctx.node("Unsqueeze", [x, ctx.ints([0], "axes")], (1, *x_shape))
    stored = [ctx.need(i + 3).has_data for i in directions]
    zeros = np.zeros((batch, units), np.float32)
    initial = np.stack([_float_const(ctx, i + 3) if ctx.need(i + 3).has_data else zeros for i in directions])
    no_recurrent_bias = np.zeros(units, np.float32)
    bias = np.stack([np.concatenate([_float_const(ctx, i + 2), no_recurrent_bias]) for i in directions])
    weights = [ctx.constant(name, np.stack([_float_const(ctx, i + k) for i in directions]))
               for name, k in (("W", 0), ("R", 1))]  # fmt: skip
    start = ctx.constant("initial_h", initial.reshape(len(directions), batch, units))
    inputs = [x, *weights, ctx.constant("B", bias), "", start]
    ctx.step("param", f"hidden state starts at {'its stored value' if all(stored) else 'zeros'} (LiteRT's "
                      "first run; later runs of one interpreter carry it over)")  # fmt: skip
    attrs = {"hidden_size": units, "activations": [act] * len(directions)}
    if both:
        attrs["direction"] = "bidirectional"
    y = ctx.node("RNN", inputs, (steps, len(directions), batch, units), attrs)
    if not sequence:
        ctx.emit("Reshape", [y, ctx.ints([batch, units])])
        return
    _sequence_outputs(ctx, y, steps, batch, units, len(directions), batch_major)


@layer(TFLITE, "SVDF")
def svdf(ctx: TfliteContext) -> None:
    """One step of the singular-value-decomposition filter: each filter's memory (the state variable,
    [batch, filters · memory]; zeros until a run writes it) shifted by one, the input's projection on
    the feature weights appended, weighted by the time weights and summed over the memory; the
    filters summed `rank` by `rank` into units, plus the bias, then the fused activation."""
    if exact_svdf.applies(ctx):
        exact_svdf.svdf(ctx)
        return
    if ctx.need(0).dtype == "int8" and ctx.need(2).dtype == "int8":
        raise ctx.error("int8 time weights and state (tflite-micro's 8-bit SVDF): LiteRT's kernel reads "
                        "both as int16 (it crashes or returns garbage), so nothing can check a conversion")
    if ctx.need(1).dtype != "float32":
        raise ctx.error(f"{ctx.need(1).dtype} weights (hybrid SVDF) are not supported")
    batch = ctx.in_shape(0)[0]
    filters, memory = ctx.need(2).shape
    rank = int(ctx.option("Rank", 1))
    units = filters // rank
    state = ctx.need(4)
    start = _float_const(ctx, 4) if state.has_data else np.zeros((batch, filters * memory), np.float32)
    projected = ctx.node("Gemm", [ctx.x(0), ctx.constant("feature_weights", _float_const(ctx, 1))],
                         (batch, filters), {"transB": 1})  # fmt: skip
    kept = ctx.constant("memory", start.reshape(batch, filters, memory)[:, :, 1:])
    newest = ctx.node("Unsqueeze", [projected, ctx.ints([2], "axes")], (batch, filters, 1))
    shifted = ctx.node("Concat", [kept, newest], (batch, filters, memory), {"axis": 2})
    time_weights = ctx.constant("time_weights", _float_const(ctx, 2))
    weighted = ctx.node("Mul", [shifted, time_weights], (batch, filters, memory))
    per_filter = ctx.node("ReduceSum", [weighted, ctx.ints([2], "axes")], (batch, filters), {"keepdims": 0})
    grouped = ctx.node("Reshape", [per_filter, ctx.ints([batch, units, rank])], (batch, units, rank))
    value = ctx.node("ReduceSum", [grouped, ctx.ints([2], "axes")], (batch, units), {"keepdims": 0})
    if ctx.tensor(3) is not None:
        value = ctx.node("Add", [value, ctx.constant("bias", _float_const(ctx, 3))], (batch, units))
    ctx.step("param", f"state starts at {'its stored value' if state.has_data else 'zeros'} (LiteRT's first "
                      "run; later runs of one interpreter carry it over)")  # fmt: skip
    ctx.finish_float(value, 0, int(ctx.option("FusedActivationFunction", 0)))


@layer(TFLITE, "WHILE")
def while_loop(ctx: TfliteContext) -> None:
    """WHILE(cond, body) → ONNX Loop: the condition evaluated once before the loop (inlined), and again
    at the end of the body on its outputs, which is the Loop body's continue flag."""
    cond_index, body_index = int(ctx.option("CondSubgraphIndex", 0)), int(ctx.option("BodySubgraphIndex", 0))
    carried = [ctx.x(i) for i in range(len(ctx.op.inputs))]
    first = inline(ctx, cond_index, carried, "condition")[0]
    formal = [(ctx.builder.unique(f"{ctx.name}/iteration"), "int64", ()),
              (ctx.builder.unique(f"{ctx.name}/condition"), "bool", ())]  # fmt: skip
    body = nested_graph(ctx, body_index, "body", formal=formal, then=cond_index)
    ctx.step("split", f"WHILE → Loop: condition subgraph {cond_index} inlined before the loop and at "
                      f"the end of body subgraph {body_index}")  # fmt: skip
    results = [(ctx.out_tensor(k).dims, ctx.out_tensor(k).dtype) for k in range(len(ctx.op.outputs))]
    ctx.node_multi("Loop", ["", first, *carried], results, {"body": body}, list(ctx.outputs))


@layer(TFLITE, "STABLEHLO_COMPOSITE")
def composite(ctx: TfliteContext) -> None:
    """A named composite (as PyTorch and JAX exports write `odml.*` ops) whose meaning LiteRT runs as
    its decomposition subgraph: that subgraph inlined on the operator's inputs."""
    name = ctx.option("Name", b"")
    name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    index = int(ctx.option("DecompositionSubgraphIndex", -1))
    args = [ctx.x(i) for i in range(len(ctx.op.inputs))]
    results = inline(ctx, index, args, "decomposition")
    ctx.step("split", f"composite {name!r}: its decomposition, subgraph {index}, inlined")
    for k, value in enumerate(results):
        ctx.emit("Identity", [value], k=k)


@layer(TFLITE, "IF")
def if_op(ctx: TfliteContext) -> None:
    """IF(cond, args…) → ONNX If whose branches read the arguments from the enclosing graph."""
    args = [ctx.x(i) for i in range(1, len(ctx.op.inputs))]
    branches = {
        key: nested_graph(ctx, int(ctx.option(option, 0)), key.split("_")[0], outer=args)
        for key, option in (("then_branch", "ThenSubgraphIndex"), ("else_branch", "ElseSubgraphIndex"))
    }
    condition = ctx.x(0)
    if ctx.in_shape(0) != ():
        condition = ctx.node("Reshape", [condition, ctx.ints([], "scalar")], ())
    results = [(ctx.out_tensor(k).dims, ctx.out_tensor(k).dtype) for k in range(len(ctx.op.outputs))]
    ctx.node_multi("If", [condition], results, branches, list(ctx.outputs))


@layer(TFLITE, "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE")
def variable(ctx: TfliteContext) -> None:
    """Variables are folded where they hold a constant (subgraph.defer); a read of one carrying state
    (variables.py) is its current value; anything else (no initial value) is refused."""
    plan = ctx.state.variables
    name = ctx.state.handles.get(ctx.op.inputs[0]) if ctx.op.inputs else None
    if ctx.type == "READ_VARIABLE" and plan is not None and name in plan.current:
        ctx.step("param", f"reads state variable {name!r} as it stands at this point of the run")
        ctx.emit("Identity", [plan.current[name]])
        return
    what = {"ASSIGN_VARIABLE": "assigns a resource variable", "READ_VARIABLE": "reads a variable that no "
            "CALL_ONCE initialiser sets to a constant"}.get(ctx.type, "uses resource variables")  # fmt: skip
    raise ctx.error(f"{what}: state kept across runs has no ONNX equivalent")
