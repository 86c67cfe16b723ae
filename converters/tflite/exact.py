"""`--exact-int8 on`: int8 and uint8 CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED as TFLite's reference
integer kernels compute them (reference_integer_ops: ConvPerChannel, DepthwiseConvPerChannel,
FullyConnected; for legacy uint8 models, per tensor with weight zero points: reference_ops' Conv,
DepthwiseConv, FullyConnected), so the ONNX model equals LiteRT's reference kernels bit for bit on them.

- accumulation: Σ (q_in − zp_in)·(q_w − zp_w) + bias in integers: ConvInteger (int32, its filter laid out
  OIHW here), FULLY_CONNECTED in float64 Gemm (exact: integer products, sums far below 2⁵³), then int64;
- requantization: the real multiplier in_scale·w_scale/out_scale becomes a Q31 multiplier M and a
  shift (QuantizeMultiplier, `TfLiteRound` = half away from zero), applied as
  MultiplyByQuantizedMultiplier does: SaturatingRoundingDoublingHighMul (a nudge of ±2³⁰, integer
  division truncating toward zero) then RoundingDivideByPOT (round half away from zero), in int64;
  FULLY_CONNECTED instead rounds acc·(in_scale·w_scale/out_scale) once in double (its reference kernel
  requantizes in floating point since 2025);
- then + out_zp, clamped to the fused activation's range (CalculateActivationRangeQuantized), int8/uint8.
The same fixed point serves MEAN (QuantizedMeanOrSum), ADD and MUL; AVERAGE_POOL_2D divides window sums
by their counts; LOGISTIC and TANH are the kernels' 256-entry float32 tables; SOFTMAX is in
exact_softmax.py. Other operators keep the QDQ form (their float kernels in onnxruntime may round
differently, and `check --exact-int8 on` says where).
"""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext, quant_params
from netinspect.converters.tflite.flatbuffer import TflTensor

EXACT_OPTION = "exact-int8"


def applies(ctx: TfliteContext) -> bool:
    """Exact mode asked for, and an 8-bit operator this module computes: its quantized input and output
    both int8 or both uint8 (and for the convolutions and FULLY_CONNECTED, constant weights of that type)."""
    if not ctx.state.exact_int8:
        return False
    if ctx.type in ("MEAN", "SUM"):
        return _eight_bit(ctx.need(0), ctx.out_tensor())  # the reference kernels: QuantizedMeanOrSum always
    if ctx.type == "AVERAGE_POOL_2D":
        x_t, out = ctx.need(0), ctx.out_tensor()
        return _eight_bit(x_t, out) and (_scale(x_t), _zero(x_t)) == (_scale(out), _zero(out))
    if ctx.type in TABLES:
        return _eight_bit(ctx.need(0), ctx.out_tensor())
    if ctx.type in ("ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"):
        tensors = (ctx.need(0), ctx.need(1), ctx.out_tensor())
        return _eight_bit(*tensors) and all(_params(t)[0].size == 1 for t in tensors)
    if ctx.type not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return False
    return _eight_bit(ctx.need(0), ctx.need(1), ctx.out_tensor()) and ctx.need(1).has_data


def _eight_bit(*tensors: TflTensor) -> bool:
    """All quantized, all int8 or all uint8."""
    return len({t.dtype for t in tensors}) == 1 and all(
        t.dtype in ("int8", "uint8") and quant_params(t) is not None for t in tensors
    )


def _limits(t: TflTensor) -> tuple[int, int]:
    """The stored type's range: int8 [−128, 127], uint8 [0, 255]."""
    info = np.iinfo(t.dtype)
    return int(info.min), int(info.max)


def mean(ctx: TfliteContext, axes: list[int], keep: int) -> None:
    """MEAN and SUM as QuantizedMeanOrSum: the int32 sum of the stored values less n·zp_in, requantized by
    the multiplier of in_scale/out_scale (for MEAN with 1/n folded into it in integers: M' = (M·2^k) div n,
    k = min(⌊log₂ n⌋, 32, 31 + shift), shift' = shift − k), then + out_zp, clamped. (int8 SUM: LiteRT's
    reference kernel reads the int8 bytes as uint8, a bug; this is the arithmetic it means, which its
    builtin kernel computes.)"""
    x_t, out = ctx.need(0), ctx.out_tensor()
    count = math.prod(int(x_t.dims[a]) for a in axes)
    to_int64 = {"to": ONNX_TYPES["int64"]}
    wide = ctx.node("Cast", [ctx.state.stored[x_t.index]], x_t.dims, to_int64, dtype="int64")
    summed = ctx.node("ReduceSum", [wide, ctx.ints(axes, "axes")], out.dims, {"keepdims": keep},
                      dtype="int64")  # fmt: skip
    centred = ctx.node("Sub", [summed, ctx.constant("zero_sum", np.int64(_zero(x_t) * count))], out.dims,
                       dtype="int64")  # fmt: skip
    multiplier, shift = quantize_multiplier(float(_scale(x_t)) / float(_scale(out)))
    fixed = np.array([[multiplier, shift]], np.int64)
    if ctx.type == "MEAN":
        folded = min(count.bit_length() - 1, 32, 31 + shift)
        fixed = np.array([[(multiplier << folded) // count, shift - folded]], np.int64)
    _fixed_point(ctx, centred, fixed, out.dims, _limits(out))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = M·2^(shift−31), M in [2³⁰, 2³¹)."""
    if real == 0.0:
        return 0, 0
    fraction, shift = math.frexp(real)
    fixed = math.floor(fraction * (1 << 31) + 0.5)  # TfLiteRound of a positive value
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return fixed, shift


def conv(ctx: TfliteContext, attrs: dict, layout: str) -> None:
    """CONV_2D / DEPTHWISE_CONV_2D (`layout`: the filter's, OHWI or IHWO) in exact integer arithmetic;
    a uint8 filter's zero point is ConvInteger's (int8 filters are symmetric)."""
    x_t, w_t, out = ctx.need(0), ctx.need(1), ctx.out_tensor()
    stored = np.asarray(w_t.data(), w_t.dtype)
    oihw = np.ascontiguousarray(stored.transpose((0, 3, 1, 2) if layout == "OHWI" else (3, 0, 1, 2)))
    zero = np.asarray(_zero(x_t), x_t.dtype)
    inputs = [ctx.state.stored[x_t.index], ctx.constant("weight", oihw), ctx.constant("zero_point", zero)]
    if w_t.dtype == "uint8":
        inputs.append(ctx.constant("weight_zero_point", np.asarray(_zero(w_t), np.uint8)))
    attrs = {k: v for k, v in attrs.items() if k != "dilations" or any(d != 1 for d in v)}
    summed = ctx.node("ConvInteger", inputs, out.dims, attrs, dtype="int32", layout="NHWC")
    acc = ctx.node("Cast", [summed], out.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    if ctx.tensor(2) is not None:
        acc = ctx.node("Add", [acc, ctx.constant("bias", np.asarray(ctx.const(2), np.int64).reshape(-1))],
                       out.dims, dtype="int64")  # fmt: skip
    _requantize(ctx, acc, conv_multipliers(x_t, w_t, out), out.dims)


def conv_multipliers(x_t: TflTensor, w_t: TflTensor, out: TflTensor) -> np.ndarray:
    """The real multipliers of a convolution's outputs, as PopulateConvolutionQuantizationParams computes
    them: per channel (double)in_scale·(double)w_scale/(double)out_scale; but a uint8 input takes the
    legacy per-tensor one of GetQuantizedConvolutionMultipler, whose in_scale·w_scale is a float32
    product, widened, then divided in double — a Q31 multiplier up to ~100 units apart, a step off on
    ~0.004 % of tflite-support's uint8 MobileNet v1 pointwise outputs with the double product."""
    w_scales = _params(w_t)[0]
    if x_t.dtype == "uint8":
        product = (_scale(x_t) * w_scales.astype(np.float32)).astype(np.float32)
        return (product.astype(np.float64) / float(_scale(out))).reshape(-1)
    return (float(_scale(x_t)) * w_scales.astype(np.float64) / float(_scale(out))).reshape(-1)


def fully_connected(ctx: TfliteContext, x: str, rows: int | None, depth: int, units: int) -> None:
    """FULLY_CONNECTED on `x` (the stored input viewed as [rows, depth]) as the reference kernels (int8 per
    tensor and per channel, uint8): the exact integer sum Σ (q_in − zp_in)·(q_w − zp_w) + bias, then
    round(acc · (double)in_scale·(double)w_scale/(double)out_scale) half away from zero, in float64."""
    x_t, w_t, out = ctx.need(0), ctx.need(1), ctx.out_tensor()
    centred = _centred(ctx, x, (rows, depth))
    weight = np.asarray(w_t.data(), np.float64) - (_zero(w_t) if w_t.dtype == "uint8" else 0)
    inputs = [centred, ctx.constant("weight", weight)]
    if ctx.tensor(2) is not None:
        inputs.append(ctx.constant("bias", np.asarray(ctx.const(2), np.float64).reshape(-1)))
    acc = ctx.node("Gemm", inputs, (rows, units), {"transB": 1}, dtype="float64")
    real = float(_scale(x_t)) * _params(w_t)[0].astype(np.float32).astype(np.float64) / float(_scale(out))
    shape = (rows, units)
    scaled = ctx.node("Mul", [acc, ctx.constant("scale", real.reshape(-1))], shape, dtype="float64")
    rounded = _round_half_away(ctx, scaled, shape)
    shifted = ctx.node("Add", [rounded, _i64(ctx, "output_zero_point", _zero(out))], shape, dtype="int64")
    final = tuple(out.dims) == shape
    what = f"acc·{_brief_float(real)} rounded once in double"
    value = _saturate(ctx, shifted, shape, _activation_range(ctx), final, what)
    if not final:
        target = ctx.outputs[0]
        ctx.node("Reshape", [value, ctx.ints(ctx.out_shape())], out.dims, output=target, dtype=out.dtype)


def _round_half_away(ctx: TfliteContext, value: str, shape: tuple) -> str:
    """C's round() of float64 values, as int64: ⌊|v|⌋ + (|v| − ⌊|v|⌋ ≥ ½), the sign put back (each step
    exact, where ⌊|v| + ½⌋ could round in the addition)."""
    magnitude = ctx.node("Abs", [value], shape, dtype="float64")
    whole = ctx.node("Floor", [magnitude], shape, dtype="float64")
    fraction = ctx.node("Sub", [magnitude, whole], shape, dtype="float64")
    half = ctx.node("GreaterOrEqual", [fraction, ctx.constant("half", np.float64(0.5))], shape, dtype="bool")
    up = ctx.node("Cast", [half], shape, {"to": ONNX_TYPES["float64"]}, dtype="float64")
    signed = ctx.node("Mul", [ctx.node("Add", [whole, up], shape, dtype="float64"),
                              ctx.node("Sign", [value], shape, dtype="float64")], shape,
                      dtype="float64")  # fmt: skip
    return ctx.node("Cast", [signed], shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")


def _centred(ctx: TfliteContext, value: str | None = None, shape: tuple | None = None) -> str:
    """The stored input minus its zero point, as float64 (exact)."""
    tensor = ctx.need(0)
    stored = value if value is not None else ctx.state.stored[tensor.index]
    zero = float(_zero(tensor))
    dims = shape if shape is not None else tensor.dims
    wide = ctx.node("Cast", [stored], dims, {"to": ONNX_TYPES["float64"]}, dtype="float64")
    return ctx.node("Sub", [wide, ctx.constant("zero_point", np.float64(zero))], dims, dtype="float64")


def _requantize(ctx: TfliteContext, acc: str, real: np.ndarray, shape: tuple) -> str:
    """output = clamp(MultiplyByQuantizedMultiplier(acc, M, shift) + zp_out), per channel (last axis)."""
    fixed = np.array([quantize_multiplier(float(r)) for r in real], np.int64)
    return _fixed_point(ctx, acc, fixed, shape, _activation_range(ctx))


def _fixed_point(
    ctx: TfliteContext,
    acc: str,
    fixed: np.ndarray,
    shape: tuple,
    bounds: tuple[int, int],
    final: bool = True,
) -> str:
    """MultiplyByQuantizedMultiplier(acc, M, shift) + out_zp clamped to `bounds`, in the output's type;
    `fixed` holds rows (M, shift), one per channel of the last axis or a single one."""
    scaled = _multiply(ctx, acc, fixed, shape)
    shifted = ctx.node("Add", [scaled, _i64(ctx, "output_zero_point", _zero(ctx.out_tensor()))], shape,
                       dtype="int64")  # fmt: skip
    return _saturate(ctx, shifted, shape, bounds, final, f"Q31 multipliers {_brief(fixed[:, 0])}, shifts "
                     f"{_brief(fixed[:, 1])}")  # fmt: skip


def _saturate(
    ctx: TfliteContext, value: str, shape: tuple, bounds: tuple[int, int], final: bool, what: str
) -> str:
    """The int64 result clamped to `bounds` and stored in the output's type (its output when `final`)."""
    low, high = bounds
    clamped = ctx.node("Clip", [value, _i64(ctx, "act_min", low), _i64(ctx, "act_max", high)], shape,
                       dtype="int64")  # fmt: skip
    dtype = ctx.out_tensor().dtype
    ctx.step("param", f"exact {dtype}: integer arithmetic as the reference kernel, {what}, "
                      f"clamp [{low}, {high}]")  # fmt: skip
    target = ctx.outputs[0] if final else None
    return ctx.node("Cast", [clamped], shape, {"to": ONNX_TYPES[dtype]}, output=target, dtype=dtype)


def _i64(ctx: TfliteContext, name: str, values: np.ndarray | int) -> str:
    array = np.asarray(values, np.int64)
    return ctx.constant(name, array.reshape(()) if array.size == 1 else array)


def _multiply(ctx: TfliteContext, acc: str, fixed: np.ndarray, shape: tuple) -> str:
    """MultiplyByQuantizedMultiplier in int64: x·2^max(shift,0)·M, SaturatingRoundingDoublingHighMul (a
    nudge of ±2³⁰, division by 2³¹ truncating toward zero), RoundingDivideByPOT by 2^max(−shift,0)."""
    multiplier, shift = fixed[:, 0], fixed[:, 1]
    left = np.left_shift(1, np.maximum(shift, 0)).astype(np.int64)
    divisor = np.left_shift(1, np.maximum(-shift, 0)).astype(np.int64)

    def i64(name: str, values: np.ndarray | int) -> str:
        return _i64(ctx, name, values)

    def op(op_type: str, *inputs: str, dtype: str = "int64") -> str:
        attrs = {"to": ONNX_TYPES["int64"]} if op_type == "Cast" else None
        return ctx.node(op_type, list(inputs), shape, attrs, dtype=dtype)

    exact = acc if ctx.builder.dtype(acc) == "int64" else op("Cast", acc)
    product = op("Mul", op("Mul", exact, i64("left_shift", left)), i64("multiplier", multiplier))
    positive = op("GreaterOrEqual", product, i64("zero", 0), dtype="bool")
    nudge = op("Where", positive, i64("nudge", 1 << 30), i64("nudge_negative", 1 - (1 << 30)))
    high = op("Div", op("Add", product, nudge), i64("two_31", 1 << 31))  # truncates toward zero
    remainder = ctx.node("Mod", [high, i64("divisor", divisor)], shape, {"fmod": 0}, dtype="int64")
    negative = op("Cast", op("Less", high, i64("zero", 0), dtype="bool"))
    threshold = op("Add", i64("half_mask", (divisor - 1) >> 1), negative)
    floor = op("Div", op("Sub", high, remainder), i64("divisor", divisor))
    up = op("Cast", op("Greater", remainder, threshold, dtype="bool"))
    return op("Add", floor, up)


def binary(ctx: TfliteContext) -> None:
    """ADD, SUB, MUL and SQUARED_DIFFERENCE as the reference integer kernels. ADD/SUB: each input less its
    zero point, shifted left by 20 and scaled by its multiplier of scale_i / (2·max scale), summed
    (subtracted), then scaled by 2·max scale / (2²⁰·out_scale); SQUARED_DIFFERENCE: the same with a shift
    of 7, the difference squared and scaled by (2·max scale)² / (2¹⁴·out_scale); MUL: the product of the
    centred inputs scaled by the multiplier of in1_scale·in2_scale/out_scale (its float32 product, as the
    kernel computes it). Then + out_zp and the fused activation's clamp."""
    out = ctx.out_tensor()
    shape = out.dims
    a, b = _centred_input(ctx, 0), _centred_input(ctx, 1)
    s1, s2, s_out = _scale(ctx.need(0)), _scale(ctx.need(1)), _scale(out)
    if ctx.type == "MUL":
        product = ctx.node("Mul", [a, b], shape, dtype="int64")
        real = float(np.float32(np.float32(s1 * s2) / s_out))
        _fixed_point(
            ctx, product, np.array([quantize_multiplier(real)], np.int64), shape, _activation_range(ctx)
        )
        return
    twice = 2 * max(float(s1), float(s2))
    bits = 7 if ctx.type == "SQUARED_DIFFERENCE" else ADD_LEFT_SHIFT
    scaled = [
        _multiply(ctx, ctx.node("Mul", [x, _i64(ctx, "left_shift", 1 << bits)], ctx.in_shape(i),
                                dtype="int64"), np.array([quantize_multiplier(float(s) / twice)], np.int64),
                  ctx.in_shape(i))
        for i, (x, s) in enumerate(((a, s1), (b, s2)))
    ]  # fmt: skip
    raw = ctx.node("Add" if ctx.type == "ADD" else "Sub", scaled, shape, dtype="int64")
    real_out = twice / ((1 << bits) * float(s_out))
    if ctx.type == "SQUARED_DIFFERENCE":
        raw = ctx.node("Mul", [raw, raw], shape, dtype="int64")
        real_out = twice * twice / ((1 << 2 * bits) * float(s_out))
    _fixed_point(ctx, raw, np.array([quantize_multiplier(real_out)], np.int64), shape, _activation_range(ctx))


def average_pool(ctx: TfliteContext, attrs: dict) -> None:
    """AVERAGE_POOL_2D as the reference integer kernel (input and output share their quantization): the
    int32 sum of the stored values over the window's cells inside the input, divided by their count
    rounding half away from zero, clamped to the fused activation's range. The sum is a depthwise
    Conv of ones in float32 (exact: integers far below 2²⁴); the counts are constants of the geometry."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    _n, h, w, c = x_t.dims
    _, oh, ow, _ = out.dims
    kh, kw = attrs["kernel_shape"]
    sh, sw = attrs["strides"]
    top, left = attrs["pads"][0], attrs["pads"][1]

    def counts(size: int, kernel: int, stride: int, pad: int, cells: int) -> np.ndarray:
        origin = np.arange(cells) * stride - pad
        return np.minimum(kernel, size - origin) - np.maximum(0, -origin)

    count = np.outer(counts(h, kh, sh, top, oh), counts(w, kw, sw, left, ow)).astype(np.int64)
    wide = ctx.node("Cast", [ctx.state.stored[x_t.index]], x_t.dims, {"to": ONNX_TYPES["float32"]})
    ones = ctx.constant("ones", np.ones((c, 1, kh, kw), np.float32))
    summed = ctx.node("Conv", [wide, ones], out.dims, {**attrs, "group": c}, layout="NHWC")
    acc = ctx.node("Cast", [summed], out.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    divisor = _i64(ctx, "window_count", count.reshape(1, oh, ow, 1))
    half = _i64(ctx, "half_count", (count // 2).reshape(1, oh, ow, 1))
    negative = ctx.node("Less", [acc, _i64(ctx, "zero", 0)], out.dims, dtype="bool")
    nudged = ctx.node("Where", [negative, ctx.node("Sub", [acc, half], out.dims, dtype="int64"),
                                ctx.node("Add", [acc, half], out.dims, dtype="int64")], out.dims,
                      dtype="int64")  # fmt: skip
    mean = ctx.node("Div", [nudged, divisor], out.dims, dtype="int64")  # truncates toward zero
    _saturate(ctx, mean, out.dims, _activation_range(ctx), True, "window sums divided by their cell counts")


TABLES = {
    "LOGISTIC": lambda v: np.float32(1) / (np.float32(1) + np.exp(-v)),
    "TANH": np.tanh,
}
"""The 8-bit activations LiteRT's reference kernels compute through a 256-entry table built in float32."""


def table(ctx: TfliteContext) -> None:
    """LOGISTIC / TANH as the reference kernel: a table over the 256 stored values, each dequantized,
    transformed in float32, divided by the output scale, rounded half away from zero, + out_zp,
    saturated; the ONNX model gathers from it by the stored value."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    low, high = _limits(out)
    stored = np.arange(low, high + 1)
    real = (_scale(x_t) * (stored - _zero(x_t)).astype(np.float32)).astype(np.float32)
    inverse = np.float32(1) / _scale(out)
    scaled = (TABLES[ctx.type](real).astype(np.float32) * inverse).astype(np.float32).astype(np.float64)
    magnitude = np.floor(np.abs(scaled)) + (np.abs(scaled) - np.floor(np.abs(scaled)) >= 0.5)
    signed = np.copysign(magnitude, scaled).astype(np.int64)
    values = np.clip(signed + _zero(out), low, high).astype(out.dtype)
    to_int64 = {"to": ONNX_TYPES["int64"]}
    wide = ctx.node("Cast", [ctx.state.stored[x_t.index]], x_t.dims, to_int64, dtype="int64")
    index = ctx.node("Add", [wide, _i64(ctx, "offset", -low)], x_t.dims, dtype="int64")
    ctx.step("param", f"exact {out.dtype}: {ctx.type} as the reference kernel's 256-entry table "
                      "(float32 transform)")  # fmt: skip
    table = ctx.constant("table", values)
    ctx.node("Gather", [table, index], out.dims, output=ctx.outputs[0], dtype=out.dtype)


ADD_LEFT_SHIFT = 20
"""The headroom bits 8-bit ADD gives its inputs before rescaling (20; 15 for int16)."""


def _centred_input(ctx: TfliteContext, i: int) -> str:
    """Input `i` as stored, less its zero point, in int64 (a constant folded here)."""
    t = ctx.need(i)
    zero = _zero(t)
    if t.index in ctx.state.stored:
        wide = ctx.node(
            "Cast", [ctx.state.stored[t.index]], t.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64"
        )
        return ctx.node("Sub", [wide, _i64(ctx, "zero_point", zero)], t.dims, dtype="int64")
    return ctx.constant("centred", np.asarray(t.data()).astype(np.int64) - zero)


def _activation_range(ctx: TfliteContext) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for the fused activation, within the output type's range."""
    s = _scale(ctx.out_tensor())
    zp = _zero(ctx.out_tensor())

    def q(value: float) -> int:
        v = float(np.float32(value) / s)
        return zp + math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)

    act = int(ctx.option("FusedActivationFunction", 0))
    low, high = _limits(ctx.out_tensor())
    if act == 1:
        low = max(low, q(0.0))
    elif act == 3:
        low, high = max(low, q(0.0)), min(high, q(6.0))
    elif act == 2:
        low, high = max(low, q(-1.0)), min(high, q(1.0))
    return low, high


def _params(t: TflTensor) -> tuple[np.ndarray, np.ndarray, int]:
    params = quant_params(t)
    assert params is not None  # applies() checked it
    return params


def _scale(t: TflTensor) -> np.float32:
    return np.float32(_params(t)[0].reshape(-1)[0])


def _zero(t: TflTensor) -> int:
    return int(_params(t)[1].reshape(-1)[0])


def _brief_float(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    return f"{flat[0]:.6g}" if flat.size == 1 else f"[{flat[0]:.6g}, …] ({flat.size})"


def _brief(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    return str(int(flat[0])) if flat.size == 1 else f"[{int(flat[0])}, …] ({flat.size})"
