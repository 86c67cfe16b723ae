"""Full-integer SVDF (int8 input, feature weights and output; int16 time weights and state; int32 bias)
as LiteRT's kernel computes it (reference_ops::EvalIntegerSVDF), in int64 nodes, in every mode: its
arithmetic is integer throughout, so the ONNX model equals LiteRT bit for bit (a QDQ form would round
the int16 state and the two requantizations differently).

- the state ([batch, filters · memory], int16; zeros until a run writes it) shifted left by one;
- each filter's newest entry: Σ (q_in − zp_in)·q_wf (MatMulInteger), MultiplyByQuantizedMultiplier by
  in·wf/state (the kernel's float32 arithmetic), clamped to int16;
- Σ over the memory of q_wt·state, summed `rank` by `rank` into units, + the int32 bias, wrapped to int32
  as the kernel's sums wrap, MultiplyByQuantizedMultiplier by state·wt/out, + zp_out, clamped
  to int8 (the kernel applies no other activation: LiteRT demands RELU and leaves it to the clamp).
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext
from netinspect.converters.tflite.exact import (
    _fixed_point,
    _limits,
    _multiply,
    _scale,
    _zero,
    quantize_multiplier,
)


def applies(ctx: TfliteContext) -> bool:
    """int8 input and feature weights with int16 time weights and state: LiteRT's integer SVDF."""
    types = [ctx.need(i).dtype for i in (0, 1, 2, 4)]
    return types == ["int8", "int8", "int16", "int16"]


def _ratio(a: np.float32, b: np.float32, c: np.float32) -> float:
    """a·b/c as the kernel's Prepare computes it: float32 arithmetic, widened to double."""
    return float(np.float32(np.float32(a * b) / c))


def svdf(ctx: TfliteContext) -> None:
    x_t, wf_t, wt_t, state_t, out = ctx.need(0), ctx.need(1), ctx.need(2), ctx.need(4), ctx.out_tensor()
    batch, _ = ctx.in_shape(0)
    filters, memory = wt_t.shape
    rank = int(ctx.option("Rank", 1))
    units = filters // rank
    if state_t.has_data:
        start = np.asarray(ctx.const_of(state_t), np.int64).reshape(batch, filters, memory)
    else:
        start = np.zeros((batch, filters, memory), np.int64)

    feature = np.ascontiguousarray(np.asarray(wf_t.data(), np.int8).T)
    inputs = [ctx.state.stored[x_t.index], ctx.constant("feature_weights", feature),
              ctx.constant("zero_point", np.asarray(_zero(x_t), np.int8))]  # fmt: skip
    dot = ctx.node("MatMulInteger", inputs, (batch, filters), dtype="int32")
    dot = ctx.node("Cast", [dot], (batch, filters), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    first = quantize_multiplier(_ratio(_scale(x_t), _scale(wf_t), _scale(state_t)))
    scaled = _multiply(ctx, dot, np.array([first], np.int64), (batch, filters))
    newest = ctx.node("Clip", [scaled, ctx.constant("int16_min", np.int64(-32768)),
                               ctx.constant("int16_max", np.int64(32767))], (batch, filters),
                      dtype="int64")  # fmt: skip
    newest = ctx.node("Unsqueeze", [newest, ctx.ints([2], "axes")], (batch, filters, 1), dtype="int64")
    kept = ctx.constant("memory", np.ascontiguousarray(start[:, :, 1:]))
    shifted = ctx.node("Concat", [kept, newest], (batch, filters, memory), {"axis": 2}, dtype="int64")
    time_weights = ctx.constant("time_weights", np.asarray(wt_t.data(), np.int64))
    weighted = ctx.node("Mul", [shifted, time_weights], (batch, filters, memory), dtype="int64")
    per_filter = ctx.node("ReduceSum", [weighted, ctx.ints([2], "axes")], (batch, filters), {"keepdims": 0},
                          dtype="int64")  # fmt: skip
    grouped = ctx.node("Reshape", [per_filter, ctx.ints([batch, units, rank])], (batch, units, rank),
                       dtype="int64")  # fmt: skip
    acc = ctx.node("ReduceSum", [grouped, ctx.ints([2], "axes")], (batch, units), {"keepdims": 0},
                   dtype="int64")  # fmt: skip
    if ctx.tensor(3) is not None:
        bias = ctx.constant("bias", np.asarray(ctx.const(3), np.int64).reshape(-1))
        acc = ctx.node("Add", [acc, bias], (batch, units), dtype="int64")
    acc = _wrap_int32(ctx, acc, (batch, units))
    second = quantize_multiplier(_ratio(_scale(state_t), _scale(wt_t), _scale(out)))
    begins = "its stored value" if state_t.has_data else "zeros"
    ctx.step("param", f"integer SVDF as LiteRT's kernel: feature sums ×{first[0]}·2^{first[1]} into the "
                      f"int16 state, time sums ×{second[0]}·2^{second[1]}; state starts at {begins} "
                      "(LiteRT's first run)")  # fmt: skip
    _fixed_point(ctx, acc, np.array([second], np.int64), (batch, units), _limits(out))


def _wrap_int32(ctx: TfliteContext, acc: str, shape: tuple) -> str:
    """The kernel's int32 sums wrap (int16 products over the memory and filters of a large state overflow
    them: tflite-micro's keyword_scrambled has such weights); sums mod 2³² do not depend on their order,
    so wrapping the int64 total once gives the kernel's value."""
    offset = ctx.constant("two_31", np.int64(1 << 31))
    shifted = ctx.node("Add", [acc, offset], shape, dtype="int64")
    wrapped = ctx.node("Mod", [shifted, ctx.constant("two_32", np.int64(1 << 32))], shape, {"fmod": 0},
                       dtype="int64")  # fmt: skip
    return ctx.node("Sub", [wrapped, offset], shape, dtype="int64")
