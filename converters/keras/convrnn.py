"""ConvLSTM2D (and Bidirectional around it), unrolled over its known number of time steps.

ONNX has no convolutional LSTM, so each step is written out as Keras computes it
(tf_keras/src/layers/rnn/conv_lstm.py `ConvLSTMCell.call`): z = conv(x_t, kernel) + bias +
conv(h, recurrent_kernel) with the recurrent convolution 'same' and stride 1, gates i, f, c, o
split along the channels, c = f·c + i·act(z_c), h = o·act(c). States start at zero, so the first
step has no recurrent term. `go_backwards` runs the steps last to first and, like Keras, returns
the sequence in that order; Bidirectional runs a copy with the opposite direction, turns its
sequence back and merges on Keras' last axis. The steps work on channels-first (N, C, H, W)
slices; the kernels are tagged HWIO for the layout pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.converters.keras import activations
from netinspect.converters.keras.context import KerasContext
from netinspect.converters.keras.layers import _spatial_attrs, layer, single_input
from netinspect.ir import Dim

Shape = tuple[Dim, ...]


@layer("ConvLSTM2D")
def convert_conv_lstm2d(ctx: KerasContext) -> None:
    convert_conv_lstm(ctx, ctx.config, bidirectional=False, merge="concat")


def convert_conv_lstm(ctx: KerasContext, cfg: dict[str, Any], bidirectional: bool, merge: Any) -> None:
    """ConvLSTM2D (`cfg` its config; the wrapper's merge mode when `bidirectional`)."""
    x, shape = single_input(ctx)
    if len(ctx.inputs) > 1:
        raise ctx.error("a ConvLSTM2D started from given states is not supported")
    if len(shape) != 5 or not isinstance(shape[1], int):
        raise ctx.error(f"needs a (batch, time, …) input of rank 5 with a known time length, got {shape}")
    if cfg.get("return_state"):
        raise ctx.error("ConvLSTM2D with return_state is not supported")
    last = cfg.get("data_format", "channels_last") != "channels_first"
    n, steps = shape[0], shape[1]
    spatial = list(shape[2:4] if last else shape[3:5])
    channels = shape[4] if last else shape[2]
    to_steps = [1, 0, 4, 2, 3] if last else [1, 0, 2, 3, 4]  # → (T, N, C, H, W)
    sequence = ctx.node("Transpose", [x], (steps, n, channels, *spatial), {"perm": to_steps})
    backwards = bool(cfg.get("go_backwards", False))
    ctx.step("param", f"ConvLSTM2D unrolled over its {steps} time steps (ONNX has no convolutional LSTM)")
    runs = [_run(ctx, cfg, sequence, shape, 0, backwards)]
    if bidirectional:
        backward, out = _run(ctx, cfg, sequence, shape, 3, not backwards)
        if cfg.get("return_sequences"):
            backward = _reverse_time(ctx, backward, out)
        runs.append((backward, out))
    results = [_keras_layout(ctx, y, out, last, bool(cfg.get("return_sequences"))) for y, out in runs]
    if not bidirectional:
        ctx.node("Identity", [results[0][0]], results[0][1], output=ctx.outputs[0])
        return
    _merge(ctx, results, merge)


def _run(
    ctx: KerasContext, cfg: dict[str, Any], sequence: str, shape: Shape, first: int, backwards: bool
) -> tuple[str, Shape]:
    """One direction: weights `first`, `first + 1`, `first + 2`; (N, f, H', W') per step, stacked
    on axis 1 for return_sequences, in processing order."""
    steps = int(shape[1])
    last = cfg.get("data_format", "channels_last") != "channels_first"
    n = shape[0]
    spatial = list(shape[2:4] if last else shape[3:5])
    channels = shape[4] if last else shape[2]
    filters = int(cfg["filters"])
    kernel = tuple(int(k) for k in cfg.get("kernel_size", (3, 3)))
    strides = tuple(int(s) for s in cfg.get("strides", (1, 1)))
    dilations = tuple(int(d) for d in cfg.get("dilation_rate", (1, 1)))
    padding = str(cfg.get("padding", "valid"))
    outs, attrs = _spatial_attrs(ctx, spatial, kernel, strides, dilations, padding)
    attrs["dilations"] = list(dilations)
    _, recurrent_attrs = _spatial_attrs(ctx, outs, kernel, (1, 1), (1, 1), "same")
    recurrent_attrs["dilations"] = [1, 1]
    gates = 4 * filters
    w = ctx.weight(first, "kernel", (*kernel, channels, gates), layout="HWIO")
    u = ctx.weight(first + 1, "recurrent_kernel", (*kernel, filters, gates), layout="HWIO")
    bias = [ctx.weight(first + 2, "bias", (gates,))] if cfg.get("use_bias", True) else []
    step_shape: Shape = (n, filters, *outs)
    split = ctx.constant("split", np.array([filters] * 4, np.int64))
    act, inner = cfg.get("activation", "tanh"), cfg.get("recurrent_activation", "hard_sigmoid")
    h: str | None = None
    c: str | None = None
    produced = []
    for t in reversed(range(steps)) if backwards else range(steps):
        x_t = ctx.node(
            "Gather", [sequence, ctx.constant("t", np.array(t, np.int64))], (n, channels, *spatial)
        )
        z = ctx.node("Conv", [x_t, w, *bias], (n, gates, *outs), attrs)
        if h is not None:
            z = ctx.node(
                "Add", [z, ctx.node("Conv", [h, u], (n, gates, *outs), recurrent_attrs)], (n, gates, *outs)
            )
        i, f, g, o = ctx.node_multi("Split", [z, split], [(step_shape, "float32")] * 4, {"axis": 1})
        i, f, o = (activations.apply(ctx, v, step_shape, inner, None, axis=1) for v in (i, f, o))
        update = ctx.node("Mul", [i, activations.apply(ctx, g, step_shape, act, None, axis=1)], step_shape)
        c = (
            update
            if c is None
            else ctx.node("Add", [ctx.node("Mul", [f, c], step_shape), update], step_shape)
        )
        h = ctx.node("Mul", [o, activations.apply(ctx, c, step_shape, act, None, axis=1)], step_shape)
        produced.append(h)
    assert h is not None
    if not cfg.get("return_sequences"):
        return h, step_shape
    axis = ctx.constant("axes", np.array([1], np.int64))
    lifted = [ctx.node("Unsqueeze", [v, axis], (n, 1, filters, *outs)) for v in produced]
    out: Shape = (n, steps, filters, *outs)
    return ctx.node("Concat", lifted, out, {"axis": 1}), out


def _reverse_time(ctx: KerasContext, y: str, shape: Shape) -> str:
    reverse = (("starts", -1), ("ends", np.iinfo(np.int64).min), ("axes", 1), ("steps", -1))
    args = [ctx.constant(h, np.array([v], np.int64)) for h, v in reverse]
    return ctx.node("Slice", [y, *args], shape)


def _keras_layout(ctx: KerasContext, y: str, shape: Shape, last: bool, sequences: bool) -> tuple[str, Shape]:
    """A run's result in Keras' own layout: channels last when the layer's data_format says so."""
    if not last:
        return y, shape
    perm = [0, 1, 3, 4, 2] if sequences else [0, 2, 3, 1]
    moved = tuple(shape[p] for p in perm)
    return ctx.node("Transpose", [y], moved, {"perm": perm}), moved


def _merge(ctx: KerasContext, results: list[tuple[str, Shape]], merge: Any) -> None:
    """Bidirectional's merge on Keras' last axis (the width for channels_first, as Keras does)."""
    (a, shape), (b, _) = results
    if merge is None:
        for value, wanted in zip((a, b), ctx.outputs, strict=False):
            ctx.node("Identity", [value], shape, output=wanted)
        return
    if merge == "concat":
        width = shape[-1] * 2 if isinstance(shape[-1], int) else None
        ctx.node("Concat", [a, b], (*shape[:-1], width), {"axis": len(shape) - 1}, output=ctx.outputs[0])
        return
    op = {"sum": "Add", "mul": "Mul", "ave": "Add"}[merge]
    y = ctx.node(op, [a, b], shape, output=None if merge == "ave" else ctx.outputs[0])
    if merge == "ave":
        ctx.node("Mul", [y, ctx.scalar("half", 0.5)], shape, output=ctx.outputs[0])
