"""Caffe's recurrent layers, LSTM and RNN (BVLC src/caffe/layers/lstm_layer.cpp, lstm_unit_layer.cpp,
rnn_layer.cpp), unrolled over the time steps the input declares.

Both take x `(T, N, …)` and the sequence-continuation indicators `cont` `(T, N)`: where cont is 0
the previous state is dropped (a new sequence starts), so cont is applied at every step, as Caffe's
unrolled net does. States start at zero. LSTM: gates `W_xc·x + b_c + W_hc·(cont·h)` split as i, f,
o, g (sigmoid, sigmoid, sigmoid, tanh); `c = cont·f·c + i·g`, `h = o·tanh(c)`; the output is h.
RNN: `h = tanh(W_xh·x + b_h + W_hh·(cont·h))`, output `o = tanh(W_ho·h + b_o)`.
"""

from __future__ import annotations

import math

from netinspect.converters.caffe.context import CAFFE, CaffeContext
from netinspect.converters.caffe.layers_nn import known
from netinspect.registry import layer

MAX_STEPS = 1024
"""Unrolling is per time step; a longer declared sequence is refused rather than made huge."""


def _sequence(ctx: CaffeContext) -> tuple[int, int, int, str, str]:
    """(T, N, features per step, x as (T, N, I), cont as (T, N, 1))."""
    p = ctx.param("recurrent_param")
    if p.get("expose_hidden", False):
        raise ctx.error("expose_hidden (recurrent state as extra bottoms and tops) is not supported")
    if len(ctx.inputs) != 2:
        raise ctx.error("takes x and cont (a static input is not supported)")
    shape = ctx.shape_of(0)
    if len(shape) < 3 or not known(*shape):
        raise ctx.error(f"needs an input (T, N, ...) of known size, not {list(shape)}")
    steps, batch = int(shape[0]), int(shape[1])  # type: ignore[arg-type]
    if steps > MAX_STEPS:
        raise ctx.error(f"{steps} time steps; at most {MAX_STEPS} are unrolled")
    features = math.prod(int(d) for d in shape[2:])  # type: ignore[arg-type]
    x = ctx.inputs[0]
    if len(shape) != 3:
        x = ctx.node(
            "Reshape", [x, ctx.const("x_shape", [steps, batch, features], "int64")], (steps, batch, features)
        )
    cont = ctx.node(
        "Reshape", [ctx.inputs[1], ctx.const("cont_shape", [steps, batch, 1], "int64")], (steps, batch, 1)
    )
    ctx.step("layout", f"unrolled over {steps} time steps, cont applied to the state at each")
    return steps, batch, features, x, cont


def _step_of(ctx: CaffeContext, value: str, t: int, shape: tuple) -> str:
    return ctx.node("Gather", [value, ctx.const(f"t{t}", t, "int64")], shape, {"axis": 0})


@layer(CAFFE, "LSTM")
def lstm(ctx: CaffeContext) -> None:
    hidden = int(ctx.value("recurrent_param", "num_output", 0))
    if hidden <= 0:
        raise ctx.error("recurrent_param needs num_output")
    steps, batch, features, x, cont = _sequence(ctx)
    w_x = ctx.blob_tensor(0, "W_xc", (4 * hidden, features))
    b = ctx.blob_tensor(1, "b_c", (4 * hidden,))
    w_h = ctx.blob_tensor(2, "W_hc", (4 * hidden, hidden))
    gates_shape = (steps, batch, 4 * hidden)
    projected = ctx.node("MatMul", [x, ctx.node("Transpose", [w_x], (features, 4 * hidden))], gates_shape)
    x_gates = ctx.node("Add", [projected, b], gates_shape)
    w_h_t = ctx.node("Transpose", [w_h], (hidden, 4 * hidden))
    split = ctx.const("split", [hidden] * 4, "int64")
    state = (batch, hidden)
    h = c = None
    outputs = []
    for t in range(steps):
        g = _step_of(ctx, x_gates, t, (batch, 4 * hidden))
        keep = _step_of(ctx, cont, t, (batch, 1))
        if h is not None:
            h_cont = ctx.node("Mul", [h, keep], state)
            g = ctx.node(
                "Add", [g, ctx.node("MatMul", [h_cont, w_h_t], (batch, 4 * hidden))], (batch, 4 * hidden)
            )
        i, f, o, gg = ctx.node_multi("Split", [g, split], [(state, "float32")] * 4, {"axis": 1})
        i, f, o = (ctx.node("Sigmoid", [v], state) for v in (i, f, o))
        new = ctx.node("Mul", [i, ctx.node("Tanh", [gg], state)], state)
        if c is not None:
            kept = ctx.node("Mul", [ctx.node("Mul", [keep, f], state), c], state)
            new = ctx.node("Add", [kept, new], state)
        c = new
        h = ctx.node("Mul", [o, ctx.node("Tanh", [c], state)], state)
        outputs.append(ctx.node("Unsqueeze", [h, ctx.const("axis0", [0], "int64")], (1, *state)))
    ctx.node("Concat", outputs, (steps, batch, hidden), {"axis": 0}, output=ctx.outputs[0])


@layer(CAFFE, "RNN")
def rnn(ctx: CaffeContext) -> None:
    hidden = int(ctx.value("recurrent_param", "num_output", 0))
    if hidden <= 0:
        raise ctx.error("recurrent_param needs num_output")
    steps, batch, features, x, cont = _sequence(ctx)
    w_x = ctx.blob_tensor(0, "W_xh", (hidden, features))
    b_h = ctx.blob_tensor(1, "b_h", (hidden,))
    w_h = ctx.blob_tensor(2, "W_hh", (hidden, hidden))
    w_o = ctx.blob_tensor(3, "W_ho", (hidden, hidden))
    b_o = ctx.blob_tensor(4, "b_o", (hidden,))
    seq_shape = (steps, batch, hidden)
    projected = ctx.node("MatMul", [x, ctx.node("Transpose", [w_x], (features, hidden))], seq_shape)
    x_part = ctx.node("Add", [projected, b_h], seq_shape)
    w_h_t = ctx.node("Transpose", [w_h], (hidden, hidden))
    w_o_t = ctx.node("Transpose", [w_o], (hidden, hidden))
    state = (batch, hidden)
    h = None
    outputs = []
    for t in range(steps):
        a = _step_of(ctx, x_part, t, state)
        if h is not None:
            h_cont = ctx.node("Mul", [h, _step_of(ctx, cont, t, (batch, 1))], state)
            a = ctx.node("Add", [a, ctx.node("MatMul", [h_cont, w_h_t], state)], state)
        h = ctx.node("Tanh", [a], state)
        o = ctx.node("Tanh", [ctx.node("Add", [ctx.node("MatMul", [h, w_o_t], state), b_o], state)], state)
        outputs.append(ctx.node("Unsqueeze", [o, ctx.const("axis0", [0], "int64")], (1, *state)))
    ctx.node("Concat", outputs, seq_shape, {"axis": 0}, output=ctx.outputs[0])
