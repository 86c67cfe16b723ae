"""`--exact-int8 on`: QUANTIZE and uint8 CONCATENATION as LiteRT's reference kernels compute them.

- QUANTIZE from float (AffineQuantize): x / scale in float32, rounded half away from zero (TfLiteRound;
  onnxruntime's QuantizeLinear rounds ties to even), + zero point, saturated to the output type.
- QUANTIZE from int8/uint8 (Requantize): MultiplyByQuantizedMultiplier(q − zp_in, M, shift) + zp_out with
  M, shift of in_scale/out_scale, saturated (the int8↔uint8 fast path, a flip of the top bit when only the
  zero points differ by 128, is the same function). An 8-bit input has 256 values, so the ONNX model
  gathers the result from a table computed here with the kernel's integer arithmetic.
- CONCATENATION of uint8 inputs whose quantization differs from the output's (ConcatenationWithScaling):
  each such input becomes round(q·s + b) + zp_out clamped to [0, 255], with s = in_scale·(1/out_scale)
  and b = −zp_in·s in float32, again tabulated over the input's 256 values. (int8 CONCATENATION demands
  equal quantization of all its tensors: a byte copy, exact in any form.)
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext, quant_params
from netinspect.converters.tflite.exact import (
    _eight_bit,
    _fixed_point,
    _i64,
    _limits,
    _scale,
    _zero,
    quantize_multiplier,
)
from netinspect.converters.tflite.exact_softmax import _divide_by_pot, _srdhm
from netinspect.converters.tflite.flatbuffer import TflTensor


def applies(ctx: TfliteContext) -> bool:
    """Exact mode, and QUANTIZE from float32 or an 8-bit type to an 8-bit type per tensor, or a uint8
    CONCATENATION."""
    if not ctx.state.exact_int8:
        return False
    out = ctx.out_tensor()
    if ctx.type == "CONCATENATION":
        inputs = [ctx.need(i) for i in range(len(ctx.op.inputs))]
        computed = all(t.index in ctx.state.stored for t in inputs)
        return out.dtype == "uint8" and _eight_bit(*inputs, out) and computed
    x_t = ctx.need(0)
    if ctx.type != "QUANTIZE" or x_t.index not in ctx.state.stored or not _per_tensor(out):
        return False
    return x_t.dtype == "float32" or _per_tensor(x_t)


def _per_tensor(t: TflTensor) -> bool:
    """An 8-bit tensor quantized per tensor."""
    params = quant_params(t)
    return _eight_bit(t) and params is not None and params[0].size == 1


def quantize(ctx: TfliteContext) -> None:
    """QUANTIZE in the reference kernel's arithmetic (module docstring)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    if x_t.dtype == "float32":
        _from_float(ctx)
        return
    multiplier, shift = quantize_multiplier(float(_scale(x_t)) / float(_scale(out)))
    low, high = _limits(out)

    def requantize(q: int) -> int:
        value = _multiply_by_quantized_multiplier(q - _zero(x_t), multiplier, shift) + _zero(out)
        return min(max(value, low), high)

    table = np.array([requantize(q) for q in range(*_range(x_t))], out.dtype)
    what = f"Requantize: Q31 multiplier {multiplier}, shift {shift}, tabulated over the 256 stored values"
    _gather(ctx, 0, table, ctx.outputs[0], what)


def from_int16(ctx: TfliteContext) -> bool:
    """QUANTIZE of an int16 value (per tensor) to int8, int16 or int32, in every mode: the kernel's
    Requantize — MultiplyByQuantizedMultiplier(q − zp_in, M, shift) of in_scale/out_scale (double), +
    zp_out, saturated — in int64 nodes (there is no QDQ form of int16 before opset 21, and the integer
    form is LiteRT's). Keyword-spotting models read int16 features so and write int32 scores."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    params = [quant_params(t) for t in (x_t, out)]
    computed = x_t.index in ctx.state.stored
    if x_t.dtype != "int16" or out.dtype not in ("int8", "int16", "int32") or not computed:
        return False
    if any(p is None or p[0].size != 1 for p in params):
        return False
    shape = out.dims
    wide = ctx.node("Cast", [ctx.state.stored[x_t.index]], shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    centred = ctx.node("Sub", [wide, _i64(ctx, "input_zero_point", _zero(x_t))], shape, dtype="int64")
    fixed = np.array([quantize_multiplier(float(_scale(x_t)) / float(_scale(out)))], np.int64)
    _fixed_point(ctx, centred, fixed, shape, _limits(out))
    return True


def _from_float(ctx: TfliteContext) -> None:
    """AffineQuantize: round(x / scale) half away from zero in float32, + zp, saturated."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    shape = out.dims
    zero = _zero(out)
    low, high = _limits(out)

    def f32(name: str, value: float) -> str:
        return ctx.constant(name, np.float32(value))

    def node(op_type: str, *inputs: str, dtype: str = "float32", **attrs: int) -> str:
        return ctx.node(op_type, list(inputs), shape, attrs or None, dtype=dtype)

    ratio = node("Div", ctx.state.stored[x_t.index], f32("scale", float(_scale(out))))
    magnitude = node("Abs", ratio)
    whole = node("Floor", magnitude)
    half = node("GreaterOrEqual", node("Sub", magnitude, whole), f32("half", 0.5), dtype="bool")
    up = node("Cast", half, to=ONNX_TYPES["float32"])
    rounded = node("Mul", node("Add", whole, up), node("Sign", ratio))
    clamped = node("Clip", rounded, f32("low", low - zero), f32("high", high - zero))
    shifted = node("Add", clamped, f32("zero_point", zero))
    scale = float(_scale(out))
    ctx.step("param", f"exact {out.dtype}: AffineQuantize as the reference kernel, x / {scale:.6g} in "
                      f"float32 rounded half away from zero, + {zero}, clamp [{low}, {high}]")  # fmt: skip
    ctx.node("Cast", [shifted], shape, {"to": ONNX_TYPES[out.dtype]}, output=ctx.outputs[0], dtype=out.dtype)


def concatenation(ctx: TfliteContext, axis: int) -> None:
    """uint8 CONCATENATION: inputs quantized as the output copied, the others requantized in float32
    (ConcatenationWithScaling), each through a 256-entry table."""
    out = ctx.out_tensor()
    parts = []
    scaled = 0
    for i in range(len(ctx.op.inputs)):
        t = ctx.need(i)
        if (_scale(t), _zero(t)) == (_scale(out), _zero(out)):
            parts.append(ctx.state.stored[t.index])
            continue
        scale = np.float32(_scale(t) * (np.float32(1) / _scale(out)))
        bias = np.float32(np.float32(-_zero(t)) * scale)
        values = (np.arange(256, dtype=np.float32) * scale + bias).astype(np.float32).astype(np.float64)
        rounded = np.copysign(np.floor(np.abs(values)) + (np.abs(values) % 1 >= 0.5), values).astype(np.int64)
        table = np.clip(rounded + _zero(out), 0, 255).astype(np.uint8)
        parts.append(_gather(ctx, i, table))
        scaled += 1
    ctx.step("param", f"exact uint8: CONCATENATION as the reference kernel, {scaled} input(s) requantized "
                      "in float32 (round(q·s + b), s = in_scale·(1/out_scale)), tabulated")  # fmt: skip
    ctx.node("Concat", parts, out.dims, {"axis": axis}, output=ctx.outputs[0], dtype="uint8")


def _gather(ctx: TfliteContext, i: int, table: np.ndarray, output: str | None = None, what: str = "") -> str:
    """Input `i`'s stored values looked up in `table` (indexed from the type's minimum)."""
    t = ctx.need(i)
    first, _end = _range(t)
    wide = ctx.node("Cast", [ctx.state.stored[t.index]], t.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    index = ctx.node("Add", [wide, _i64(ctx, "offset", -first)], t.dims, dtype="int64")
    if what:
        ctx.step("param", f"exact {table.dtype}: {what}")
    lookup = ctx.constant("table", table)
    return ctx.node("Gather", [lookup, index], t.dims, output=output, dtype=str(table.dtype))


def _range(t: TflTensor) -> tuple[int, int]:
    low, high = _limits(t)
    return low, high + 1


def _multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier (double rounding) on Python ints."""
    left, right = max(shift, 0), max(-shift, 0)
    return _divide_by_pot(_srdhm(x * (1 << left), multiplier), right)
