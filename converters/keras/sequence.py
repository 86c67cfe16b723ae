"""Keras sequence layers: SimpleRNN, LSTM, GRU (and Bidirectional), Embedding, Dot, TimeDistributed.

Recurrent weights become ONNX RNN/LSTM/GRU inputs: Keras kernels (in, gates·U) transposed to (gates·U,
in) with LSTM's gates reordered from Keras' i,f,c,o to ONNX's i,o,f,c (GRU's z,r,h agree); GRU
`reset_after` is ONNX `linear_before_reset`; Keras 1 files that store one (W, U, b) per gate have them
joined first, as Keras' own loader does (tf-keras tf_keras/saving/legacy/hdf5_format.py,
`preprocess_weights_for_loading`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect import registry
from netinspect.converters.keras import activations, convrnn
from netinspect.converters.keras.context import KERAS, KerasContext
from netinspect.converters.keras.layers import convert_dense, layer, single_input
from netinspect.converters.keras.model import snake_case
from netinspect.converters.keras.opcalls import TensorArg
from netinspect.dtypes import elem_type
from netinspect.ir import Tensor

_ONNX_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "hard_sigmoid": "HardSigmoid"}
_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}


def _rnn_activation(ctx: KerasContext, value: Any) -> tuple[str, float | None, float | None]:
    name = activations.activation_name(value)
    if name not in _ONNX_ACTIVATIONS:
        raise ctx.error(f"recurrent activation {name!r} is not supported")
    if name == "hard_sigmoid":
        return "HardSigmoid", (1.0 / 6.0 if ctx.env.major >= 3 else 0.2), 0.5
    return _ONNX_ACTIVATIONS[name], None, None


CELLS = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}
_RNN_FLAGS = ("return_sequences", "return_state", "go_backwards", "stateful")


def unwrap_cell(ctx: KerasContext, cfg: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`RNN(LSTMCell(…))` as the LSTM layer it computes: the cell's config with the RNN's flags."""
    cell = cfg.get("cell")
    name = cell.get("class_name") if isinstance(cell, dict) else None
    if name not in CELLS:
        raise ctx.error(f"an RNN around a {name or type(cell).__name__} is not supported")
    if cfg.get("time_major"):
        raise ctx.error("a time-major RNN is not supported")
    return {**cell.get("config", {}), **{k: cfg[k] for k in _RNN_FLAGS if k in cfg}}, CELLS[name]


def _rnn_kind(class_name: str) -> str:
    for kind in _GATES:
        if class_name.startswith(kind) or class_name == f"CuDNN{kind}":
            return kind
    raise KeyError(class_name)


class _Joined:
    """Keras 1 per-gate arrays joined along the last axis, as Keras' own loader converts them."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        first = parts[0].shape
        self.shape = (*first[:-1], sum(p.shape[-1] for p in parts))

    def load(self) -> np.ndarray:
        return np.concatenate([p.load() for p in self.parts], axis=-1)


def _keras1_split_gates(ctx: KerasContext, kind: str, offset: int) -> list[Any] | None:
    """Keras 1 (consume_less cpu/mem) stores one (W, U, b) per gate: LSTM i,c,f,o; GRU z,r,h.
    Returned as the joined (kernel, recurrent, bias) with the gates in Keras 2's order."""
    gates = _GATES[kind]
    if ctx.env.major != 1 or gates == 1 or ctx.weight_count() - offset < 3 * gates:
        return None
    names = [ctx.array(offset + i, "gate weight").name for i in range(3 * gates)]
    if not all("_W" in n or "_U" in n or "_b" in n for n in names):
        return None
    order = [0, 2, 1, 3] if kind == "LSTM" else [0, 1, 2]  # stored i,c,f,o → i,f,c,o
    joined = [_Joined([ctx.array(offset + 3 * g + role, "gate weight") for g in order]) for role in range(3)]
    ctx.step("param", f"Keras 1 per-gate {kind} weights joined into kernel, recurrent kernel and bias")
    gate_rows, bias_of = _gate_functions(kind, reset_after=False)
    return [(joined[0], gate_rows), (joined[1], gate_rows), (joined[2], bias_of)]


def _gate_functions(kind: str, reset_after: bool) -> tuple[Any, Any]:
    """(kernel → ONNX W/R rows, bias → ONNX B) for one direction: gates reordered, transposed."""
    gates = _GATES[kind]
    order = [0, 3, 1, 2] if kind == "LSTM" else list(range(gates))  # Keras i,f,c,o → ONNX i,o,f,c

    def gate_rows(a: np.ndarray) -> np.ndarray:  # (in, gates·U) → (gates·U, in)
        blocks = np.split(a, gates, axis=-1)
        return np.concatenate([blocks[g] for g in order], axis=-1).T

    def bias_of(a: np.ndarray) -> np.ndarray:  # Keras bias → [Wb; Rb] (Rb zero unless reset_after)
        wb, rb = (a[0], a[1]) if reset_after else (a, np.zeros_like(a))
        return np.concatenate([gate_rows(wb[None, :])[:, 0], gate_rows(rb[None, :])[:, 0]])

    return gate_rows, bias_of


def _cudnn_weights(
    ctx: KerasContext, kind: str, cfg: dict[str, Any], offset: int, features: int, units: int
) -> tuple[list[Any], int]:
    """CuDNNLSTM/CuDNNGRU (Keras 2): each gate's kernel block is stored in cuDNN's layout, and
    the input and recurrent biases apart (8·U or 6·U). Converted as Keras' own loader does when it
    loads them into an LSTM/GRU: input block b → b.T reshaped in Fortran order, recurrent block
    → its transpose; the two biases stay apart, as ONNX's B (GRU: `reset_after` semantics)."""
    gates = _GATES[kind]
    kernel = ctx.array(offset, "kernel")
    recurrent = ctx.array(offset + 1, "recurrent_kernel")
    bias = ctx.array(offset + 2, "bias")
    wanted = ((features, gates * units), (units, gates * units), (2 * gates * units,))
    for arr, want in zip((kernel, recurrent, bias), wanted, strict=True):
        if arr.shape != want:
            raise ctx.error(f"weight {arr.name!r} has shape {arr.shape}, the layer needs {want}")
    gate_rows, bias_of = _gate_functions(kind, reset_after=True)

    def per_gate(fn: Any) -> Any:
        return lambda a: gate_rows(np.concatenate([fn(b) for b in np.split(a, gates, axis=-1)], axis=-1))

    ctx.step("param", f"CuDNN{kind} kernels converted per gate from cuDNN's layout (as Keras' loader does)")
    return [
        (kernel, per_gate(lambda b: b.T.reshape(b.shape, order="F"))),
        (recurrent, per_gate(lambda b: b.T)),
        (bias, lambda a: bias_of(a.reshape(2, -1))),
    ], 3


def _rnn_weights(
    ctx: KerasContext, kind: str, cfg: dict[str, Any], offset: int, features: int, units: int
) -> tuple[list[Any], int]:
    """One direction's (W, R, B) as lazy arrays in ONNX gate order, and how many arrays it used."""
    gates = _GATES[kind]
    use_bias = bool(cfg.get("use_bias", cfg.get("bias", True)))
    split = _keras1_split_gates(ctx, kind, offset)
    if split is not None:
        return split, gates * 3
    kernel = ctx.array(offset, "kernel")
    recurrent = ctx.array(offset + 1, "recurrent_kernel")
    for arr, want in ((kernel, (features, gates * units)), (recurrent, (units, gates * units))):
        if arr.shape != want:
            raise ctx.error(f"weight {arr.name!r} has shape {arr.shape}, the layer needs {want}")
    bias = ctx.array(offset + 2, "bias") if use_bias else None
    reset_after = kind == "GRU" and bool(cfg.get("reset_after", ctx.env.major >= 3))
    if bias is not None:
        want_b = (2, gates * units) if reset_after else (gates * units,)
        if bias.shape != want_b:
            raise ctx.error(f"weight {bias.name!r} has shape {bias.shape}, the layer needs {want_b}")
    gate_rows, bias_of = _gate_functions(kind, reset_after)
    return [(kernel, gate_rows), (recurrent, gate_rows), (bias, bias_of)], 2 + (bias is not None)


def _stack(ctx: KerasContext, role: str, parts: list[tuple[Any, Any]], shape: tuple[int, ...]) -> str:
    def load() -> np.ndarray:
        return np.stack([fn(arr.load()) for arr, fn in parts]).astype(np.float32)

    return ctx.constant(role, Tensor(role, "float32", shape, loader=load))


@layer(
    "LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "LSTMV1", "GRUV1", "Bidirectional",
)  # fmt: skip
def convert_rnn(ctx: KerasContext) -> None:
    inner_class = (ctx.config.get("layer") or {}).get("class_name") if ctx.type == "Bidirectional" else None
    if inner_class == "ConvLSTM2D":
        merge = ctx.config.get("merge_mode", "concat")
        if merge not in _MERGES:
            raise ctx.error(f"merge_mode {merge!r} is not one of Keras' concat, sum, mul, ave, None")
        convrnn.convert_conv_lstm(ctx, ctx.cfg("layer").get("config", {}), bidirectional=True, merge=merge)
        return
    x, shape = single_input(ctx)
    if len(shape) != 3:
        raise ctx.error(f"needs a (batch, time, features) input, got rank {len(shape)}")
    bidirectional = ctx.type == "Bidirectional"
    if bidirectional:
        inner = ctx.cfg("layer")
        cfg, class_name = inner.get("config", {}), inner.get("class_name", "")
        merge = ctx.config.get("merge_mode", "concat")  # null is a mode: both outputs, unmerged
        if merge not in _MERGES:
            raise ctx.error(f"merge_mode {merge!r} is not one of Keras' concat, sum, mul, ave, None")
    else:
        cfg, class_name = ctx.config, ctx.type
        merge = "concat"
    if class_name == "RNN":
        cfg, class_name = unwrap_cell(ctx, cfg)
    cudnn = class_name.startswith("CuDNN")
    try:
        kind = _rnn_kind(class_name)
    except KeyError:
        raise ctx.error(f"wraps a {class_name}, which is not supported") from None
    if cfg.get("stateful"):
        ctx.step("param", "stateful: each ONNX run starts from zero states (Keras carries them over)")
        ctx.note(
            f"{ctx.name!r} is stateful: the ONNX model starts each run from zero states, as a fresh Keras "
            "model's first batch does; feed sequences whole (or reset states between them in Keras)"
        )
    n, t, features = shape
    units = int(cfg.get("units") or cfg.get("output_dim"))
    if not isinstance(features, int):
        raise ctx.error("needs a known feature size")
    gates = _GATES[kind]
    dirs = 2 if bidirectional else 1
    weights_of = _cudnn_weights if cudnn else _rnn_weights
    parts, used = weights_of(ctx, kind, cfg, 0, features, units)
    directions = [parts]
    if bidirectional:
        directions.append(weights_of(ctx, kind, cfg, used, features, units)[0])
    w = _stack(ctx, "W", [d[0] for d in directions], (dirs, gates * units, features))
    r = _stack(ctx, "R", [d[1] for d in directions], (dirs, gates * units, units))
    lengths = None
    given_mask = ctx.call_kwargs.get("mask")  # Keras 3 passes the mask it computed as a tensor
    mask = ctx.inputs[given_mask.index] if isinstance(given_mask, TensorArg) else ctx.masks.get(x)
    if mask is not None:
        backwards_sequence = cfg.get("go_backwards") and cfg.get("return_sequences")
        if bidirectional or backwards_sequence or cfg.get("stateful") or cfg.get("return_state"):
            raise ctx.error(
                "its input carries a Keras mask (Masking, Embedding mask_zero), which netinspect applies "
                "only to a one-way recurrent layer (not going backwards when it returns sequences)"
            )
        x, lengths = _masked_steps_first(ctx, x, mask, shape)
    inputs = [ctx.node("Transpose", [x], (t, n, features), {"perm": [1, 0, 2]}), w, r]
    if directions[0][2][0] is not None:
        inputs.append(_stack(ctx, "B", [d[2] for d in directions], (dirs, 2 * gates * units)))
    initial = _initial_states(ctx, kind, dirs, n, units)
    if initial or lengths:  # ONNX's optional inputs by position: B, sequence_lens, initial_h, initial_c
        inputs += [""] * (4 - len(inputs)) + [lengths or ""] + initial
    if kind == "LSTM":
        ctx.step("transpose", "LSTM gates reordered from Keras i,f,c,o to ONNX i,o,f,c; kernels transposed")
    inner_default = "hard_sigmoid" if ctx.env.major < 2 else "sigmoid"
    names = [cfg.get("recurrent_activation") or cfg.get("inner_activation") or inner_default]
    names += [cfg.get("activation", "tanh")] * (2 if kind == "LSTM" else 1)
    if kind == "SimpleRNN":
        names = [cfg.get("activation", "tanh")]
    acts = [_rnn_activation(ctx, a) for a in names] * dirs
    attrs: dict[str, Any] = {"hidden_size": units, "activations": [a for a, _, _ in acts]}
    if any(alpha is not None for _, alpha, _ in acts):
        # one value per activation that takes one, in order: onnxruntime consumes the list that way
        # (as keras2onnx wrote it), so padding Tanh's slot would hand the backward direction's
        # HardSigmoid the forward Tanh's value
        attrs["activation_alpha"] = [alpha for _, alpha, _ in acts if alpha is not None]
        attrs["activation_beta"] = [beta for _, _, beta in acts if beta is not None]
    backwards = bool(cfg.get("go_backwards", False)) and not bidirectional
    attrs["direction"] = "bidirectional" if bidirectional else ("reverse" if backwards else "forward")
    if kind == "GRU":
        attrs["linear_before_reset"] = int(cudnn or bool(cfg.get("reset_after", ctx.env.major >= 3)))
    op = {"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}[kind]
    results: list[tuple[Any, str]] = [((t, dirs, n, units), "float32"), ((dirs, n, units), "float32")]
    if kind == "LSTM":
        results.append(((dirs, n, units), "float32"))
    outs = ctx.node_multi(op, inputs, results, attrs)
    sequences = bool(cfg.get("return_sequences", False))
    if bidirectional and cfg.get("return_state"):
        raise ctx.error("Bidirectional with return_state is not supported")
    wanted = ctx.outputs
    if merge != "concat":
        _merge_directions(
            ctx, outs[0] if sequences else outs[1], merge, (n, t, units) if sequences else (n, units)
        )
        return
    if sequences:
        y = ctx.node("Transpose", [outs[0]], (n, t, dirs, units), {"perm": [2, 0, 1, 3]})
        spec = ctx.constant("shape", np.array([0, 0, dirs * units], np.int64))
        y = ctx.node(
            "Reshape", [y, spec], (n, t, dirs * units), output=None if backwards or mask else wanted[0]
        )
        if mask is not None:
            _masked_outputs_in_place(ctx, y, mask, (n, t, units), wanted[0])
        if backwards:  # Keras returns the sequence in processing (reversed) order
            ctx.step("param", "go_backwards: ONNX reverse direction; sequence reversed to Keras' order")
            reverse = (("starts", -1), ("ends", np.iinfo(np.int64).min), ("axes", 1), ("steps", -1))
            args = [ctx.constant(h, np.array([v], np.int64)) for h, v in reverse]
            ctx.node("Slice", [y, *args], (n, t, dirs * units), output=wanted[0])
    else:
        h = ctx.node("Transpose", [outs[1]], (n, dirs, units), {"perm": [1, 0, 2]})
        spec = ctx.constant("shape", np.array([0, dirs * units], np.int64))
        ctx.node("Reshape", [h, spec], (n, dirs * units), output=wanted[0])
    states = [outs[1]] + ([outs[2]] if kind == "LSTM" else [])
    if len(wanted) > 1 and (not cfg.get("return_state") or len(wanted) - 1 > len(states)):
        raise ctx.error("more outputs are read than the layer returns")
    for index, state in enumerate(states[: len(wanted) - 1]):
        spec = ctx.constant("state_shape", np.array([0, units], np.int64))
        moved = ctx.node("Transpose", [state], (n, 1, units), {"perm": [1, 0, 2]})
        ctx.node("Reshape", [moved, spec], (n, units), output=wanted[index + 1])


_MERGES = {"concat": "", "sum": "Add", "mul": "Mul", "ave": "Add", None: ""}
"""Bidirectional merge modes: concat (the ONNX output reshaped) and the ops that combine the rest."""


def _masked_steps_first(ctx: KerasContext, x: str, mask: str, shape: Any) -> tuple[str, str]:
    """A masked sequence for ONNX: Keras skips a masked step, carrying the states over, so the last
    state is the one after the unmasked steps, in order. Those steps are moved to the front (a stable
    sort on t, or T + t for a masked step) and their count is the step's `sequence_lens`."""
    n, t, _ = shape
    if not isinstance(t, int):
        raise ctx.error("a masked sequence needs a known length")
    steps = ctx.constant("steps", np.arange(t, dtype=np.int64))
    late = ctx.constant("masked_steps", np.arange(t, 2 * t, dtype=np.int64))
    order = ctx.node("Where", [mask, steps, late], (n, t), dtype="int64")
    count = ctx.constant("k", np.array([t], np.int64))
    _, index = ctx.node_multi(
        "TopK", [order, count], [((n, t), "int64"), ((n, t), "int64")], {"axis": 1, "largest": 0, "sorted": 1}
    )
    lifted = ctx.node(
        "Unsqueeze", [index, ctx.constant("axes", np.array([2], np.int64))], (n, t, 1), dtype="int64"
    )
    spread = ctx.node("Expand", [lifted, ctx.node("Shape", [x], (3,), dtype="int64")], shape, dtype="int64")
    moved = ctx.node("GatherElements", [x, spread], shape, {"axis": 1})
    ones = ctx.node("Cast", [mask], (n, t), {"to": elem_type("int32")}, dtype="int32")
    axes = ctx.constant("axes", np.array([1], np.int64))
    lengths = ctx.node("ReduceSum", [ones, axes], (n,), {"keepdims": 0}, dtype="int32")
    ctx.step("param", "mask: unmasked steps moved first (stable), their count as sequence_lens")
    return moved, lengths


def _masked_outputs_in_place(ctx: KerasContext, y: str, mask: str, shape: Any, output: str) -> None:
    """The outputs of the moved steps back at their own steps: Keras repeats the last unmasked step's
    output at a masked one (zeros before the first), so step t shows moved step (unmasked ≤ t) − 1."""
    n, t, _ = shape
    counted = ctx.node("Cast", [mask], (n, t), {"to": elem_type("int64")}, dtype="int64")
    done = ctx.node("CumSum", [counted, ctx.constant("axis", np.array(1, np.int64))], (n, t), dtype="int64")
    index = ctx.node("Sub", [done, ctx.constant("one", np.array(1, np.int64))], (n, t), dtype="int64")
    zero = ctx.constant("zero", np.array(0, np.int64))
    started = ctx.node(
        "Unsqueeze",
        [
            ctx.node("Greater", [done, zero], (n, t), dtype="bool"),
            ctx.constant("axes", np.array([2], np.int64)),
        ],
        (n, t, 1),
        dtype="bool",
    )
    at = ctx.node("Max", [index, zero], (n, t), dtype="int64")
    lifted = ctx.node(
        "Unsqueeze", [at, ctx.constant("axes", np.array([2], np.int64))], (n, t, 1), dtype="int64"
    )
    spread = ctx.node("Expand", [lifted, ctx.node("Shape", [y], (3,), dtype="int64")], shape, dtype="int64")
    back = ctx.node("GatherElements", [y, spread], shape, {"axis": 1})
    ctx.step("param", "mask: each step's output from the last unmasked step up to it (zeros before any)")
    ctx.node("Where", [started, back, ctx.scalar("zeros", 0.0)], shape, output=output)


@layer("Masking")
def convert_masking(ctx: KerasContext) -> None:
    """Keras Masking: a step whose features all equal `mask_value` is masked, and zeroed."""
    x, shape = single_input(ctx)
    if len(shape) != 3:
        raise ctx.error(f"a mask over a rank-{len(shape)} input is not supported")
    value = ctx.constant("mask_value", np.array(float(ctx.cfg("mask_value", default=0.0)), np.float32))
    differs = ctx.node("Not", [ctx.node("Equal", [x, value], shape, dtype="bool")], shape, dtype="bool")
    n, t, _ = shape
    any_feature = ctx.node(
        "ReduceMax", [ctx.node("Cast", [differs], shape, {"to": elem_type("float32")})], (n, t, 1),
        {"axes": [2], "keepdims": 1},
    )  # fmt: skip
    keep = ctx.node("Squeeze", [any_feature, ctx.constant("axes", np.array([2], np.int64))], (n, t))
    ctx.masks[ctx.outputs[0]] = ctx.node("Cast", [keep], (n, t), {"to": elem_type("bool")}, dtype="bool")
    ctx.node("Mul", [x, any_feature], shape, output=ctx.outputs[0])
    ctx.note(
        f"Masking {ctx.name!r}: masked steps are zeroed and skipped by the recurrent layer reading them; "
        "other layers that would use the mask do not see it"
    )


def _initial_states(ctx: KerasContext, kind: str, dirs: int, n: Any, units: int) -> list[str]:
    """`initial_state=[h(, c)]` (Bidirectional: the forward layer's, then the backward one's), the
    layer's inputs after the sequence, as ONNX's initial_h (and initial_c): (directions, batch, units)."""
    mask = ctx.call_kwargs.get("mask")  # Keras 3 passes an input's mask as a tensor argument
    skipped = {a.index for a in (mask if isinstance(mask, list) else [mask]) if isinstance(a, TensorArg)}
    given = [v for i, v in enumerate(ctx.inputs) if i > 0 and i not in skipped]
    per_direction = 2 if kind == "LSTM" else 1
    if not given:
        return []
    if len(given) != per_direction * dirs:
        raise ctx.error(f"takes {per_direction * dirs} initial states, {len(given)} given")
    ctx.step(
        "param",
        "initial_state: the given states are ONNX's initial_h"
        + (", initial_c" if per_direction == 2 else ""),
    )
    axis = ctx.constant("axes", np.array([0], np.int64))
    out = []
    for role in range(per_direction):  # h, then c
        parts = [
            ctx.node("Unsqueeze", [given[d * per_direction + role], axis], (1, n, units)) for d in range(dirs)
        ]
        out.append(parts[0] if dirs == 1 else ctx.node("Concat", parts, (dirs, n, units), {"axis": 0}))
    return out


def _merge_directions(ctx: KerasContext, y: str, merge: str | None, shape: tuple[Any, ...]) -> None:
    """Bidirectional's sum/mul/ave (or None: both directions as two outputs) on ONNX's direction axis:
    Y (T, 2, N, U) for sequences, Y_h (2, N, U) for the last step. ONNX's reverse direction already
    gives each time step at its own position, as Keras' Bidirectional re-reverses its backward run."""
    sequences = len(shape) == 3
    axis, step_shape = (1, (shape[1], shape[0], shape[2])) if sequences else (0, shape)
    count = 2 if merge is None else 1
    if len(ctx.outputs) != count:
        raise ctx.error(f"{len(ctx.outputs)} outputs are read; merge_mode {merge!r} gives {count}")
    final: list[str | None] = [None] * count if sequences else list(ctx.outputs)
    halves = []
    for direction in (0, 1):
        index = ctx.constant("direction", np.array(direction, np.int64))
        out = final[direction] if merge is None else None
        halves.append(ctx.node("Gather", [y, index], step_shape, {"axis": axis}, output=out))
    if merge is None:
        results = halves
        ctx.step("param", "Bidirectional merge_mode None: forward and backward outputs kept apart")
    elif merge == "ave":
        total = ctx.node("Add", halves, step_shape)
        half = ctx.constant("half", np.array(0.5, np.float32))
        results = [ctx.node("Mul", [total, half], step_shape, output=final[0])]
        ctx.step("param", "Bidirectional merge_mode 'ave': (forward + backward) × 0.5")
    else:
        results = [ctx.node(_MERGES[merge], halves, step_shape, output=final[0])]  # type: ignore[arg-type]
        ctx.step(
            "param", f"Bidirectional merge_mode {merge!r}: forward and backward combined by {_MERGES[merge]}"
        )
    if sequences:
        for result, wanted in zip(results, ctx.outputs, strict=True):
            ctx.node("Transpose", [result], shape, {"perm": [1, 0, 2]}, output=wanted)


@layer("Embedding")
def convert_embedding(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    dim = int(ctx.cfg("output_dim"))
    vocab = int(ctx.cfg("input_dim"))
    table = ctx.weight(0, "embeddings", (vocab, dim))
    indices = ctx.node("Cast", [x], shape, {"to": elem_type("int64")}, dtype="int64")
    if ctx.cfg("mask_zero", default=False):
        zero = ctx.constant("zero", np.array(0, np.int64))
        mask = ctx.node("Not", [ctx.node("Equal", [indices, zero], shape, dtype="bool")], shape, dtype="bool")
        ctx.masks[ctx.outputs[0]] = mask
        ctx.note(
            f"Embedding {ctx.name!r} masks index 0: a recurrent layer reading it skips those steps; other "
            "layers that would use the mask do not see it"
        )
    ctx.node("Gather", [table, indices], (*shape, dim), {"axis": 0}, output=ctx.outputs[0])


@layer("Dot")
def convert_dot(ctx: KerasContext) -> None:
    if len(ctx.inputs) != 2:
        raise ctx.error("Dot takes two inputs")
    (a, b), (sa, sb) = ctx.inputs, ctx.input_shapes
    rank = len(sa)
    axes = ctx.cfg("axes")
    ax = [int(axes)] * 2 if isinstance(axes, int) else [int(v) for v in axes]
    ax = [ax[0] % rank, ax[1] % len(sb)]
    if ctx.cfg("normalize", default=False):
        a = ctx.node("LpNormalization", [a], sa, {"axis": ax[0], "p": 2})
        b = ctx.node("LpNormalization", [b], sb, {"axis": ax[1], "p": 2})
    if rank == 2 and len(sb) == 2:
        prod = ctx.node("Mul", [a, b], sa)
        axes_c = ctx.constant("axes", np.array([1], np.int64))
        ctx.node("ReduceSum", [prod, axes_c], (sa[0], 1), {"keepdims": 1}, output=ctx.outputs[0])
        return
    if rank != 3 or len(sb) != 3:
        raise ctx.error("Dot is supported on rank-2 and rank-3 inputs")
    if ax[0] == 1:
        a = ctx.node("Transpose", [a], (sa[0], sa[2], sa[1]), {"perm": [0, 2, 1]})
        sa = (sa[0], sa[2], sa[1])
    if ax[1] == 2:
        b = ctx.node("Transpose", [b], (sb[0], sb[2], sb[1]), {"perm": [0, 2, 1]})
        sb = (sb[0], sb[2], sb[1])
    ctx.node("MatMul", [a, b], (sa[0], sa[1], sb[2]), output=ctx.outputs[0])


@layer("TimeDistributed")
def convert_time_distributed(ctx: KerasContext) -> None:
    """TimeDistributed(layer): the time axis folded into the batch (N·T, …), the inner layer's own
    handler run on that, and the result unfolded to (N, T, …). TimeDistributed(Dense) is the Dense
    itself, which maps the last axis of any rank."""
    inner = ctx.cfg("layer")
    inner_type = str(inner.get("class_name"))
    handler = registry.handler(KERAS, inner_type)
    if handler is None or inner_type == "TimeDistributed":
        raise ctx.error(f"TimeDistributed({inner_type}) is not supported")
    ctx.config = {**inner.get("config", {})}
    if inner_type == "Dense":
        convert_dense(ctx)
        return
    x, shape = single_input(ctx)
    n, t, rest = shape[0], shape[1], tuple(shape[2:])
    if not isinstance(t, int) or not all(isinstance(d, int) for d in rest):
        raise ctx.error("TimeDistributed needs known sizes after the batch axis")
    ctx.step("layout", f"time axis folded into the batch to apply {inner_type} to every step")
    folded = ctx.node("Reshape", [x, ctx.constant("fold", np.array([-1, *rest], np.int64))], (None, *rest))
    wanted, outer_type = ctx.outputs, ctx.type
    inner_out = ctx.builder.unique(f"{ctx.name}/{snake_case(inner_type)}")
    ctx.builder.used.discard(inner_out)
    ctx.inputs, ctx.input_shapes, ctx.outputs, ctx.type = [folded], [(None, *rest)], [inner_out], inner_type
    try:
        handler(ctx)
    finally:
        ctx.inputs, ctx.outputs, ctx.type = [x], wanted, outer_type
        ctx.input_shapes = [shape]
    out_shape = ctx.builder.shape(inner_out) or (None,)
    tail = tuple(out_shape[1:])
    if not all(isinstance(d, int) for d in tail):
        raise ctx.error(f"TimeDistributed({inner_type}) gives sizes netinspect cannot tell")
    unfold = ctx.constant("unfold", np.array([-1, t, *tail], np.int64))
    ctx.node("Reshape", [inner_out, unfold], (n, t, *tail), output=wanted[0])
