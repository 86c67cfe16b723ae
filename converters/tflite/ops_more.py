"""Less common TFLite builtins ONNX can express: REDUCE_ANY / REDUCE_ALL, ATAN2, REVERSE_SEQUENCE,
SCATTER_ND, MATRIX_DIAG, RANK and FAKE_QUANT (listed with their status by `netinspect formats tflite`)."""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


@layer(TFLITE, "REDUCE_ANY", "REDUCE_ALL")
def reduce_bool(ctx: TfliteContext) -> None:
    """any = max, all = min of the booleans as uint8 (ONNX reduces no bool)."""
    rank = len(ctx.in_shape(0))
    axes = sorted({int(a) + rank if int(a) < 0 else int(a) for a in ctx.const(1).reshape(-1)})
    keep = int(bool(ctx.option("KeepDims", False)))
    as_bytes = ctx.node("Cast", [ctx.x(0)], ctx.in_shape(0), {"to": ONNX_TYPES["uint8"]}, dtype="uint8")
    op_type = "ReduceMax" if ctx.type == "REDUCE_ANY" else "ReduceMin"
    reduced = ctx.node(op_type, [as_bytes], ctx.out_shape(), {"axes": axes, "keepdims": keep}, dtype="uint8")
    ctx.emit("Cast", [reduced], {"to": ONNX_TYPES["bool"]})


@layer(TFLITE, "ATAN2")
def atan2(ctx: TfliteContext) -> None:
    """atan(y/x), moved by ±π where x < 0 (by the sign of y), 0 where both are 0 (ONNX has no Atan2)."""
    y, x = ctx.x(0), ctx.x(1)
    shape = ctx.out_shape()

    def c(value: float) -> str:
        return ctx.constant("c", np.float32(value))

    base = ctx.node("Atan", [ctx.node("Div", [y, x], shape)], shape)
    upper = ctx.node("GreaterOrEqual", [y, c(0.0)], shape, dtype="bool")
    turn = ctx.node("Where", [upper, c(math.pi), c(-math.pi)], shape)
    left = ctx.node("Less", [x, c(0.0)], shape, dtype="bool")
    angle = ctx.node("Add", [base, ctx.node("Where", [left, turn, c(0.0)], shape)], shape)
    zeros = [ctx.node("Equal", [v, c(0.0)], shape, dtype="bool") for v in (x, y)]
    origin = ctx.node("And", zeros, shape, dtype="bool")
    ctx.step("split", "ATAN2 as atan(y/x) corrected by ±π for x < 0 (ONNX has no Atan2)")
    ctx.emit("Where", [origin, c(0.0), angle])


@layer(TFLITE, "REVERSE_SEQUENCE")
def reverse_sequence(ctx: TfliteContext) -> None:
    lengths = ctx.node("Cast", [ctx.x(1)], ctx.in_shape(1), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    attrs = {"batch_axis": int(ctx.option("BatchDim", 0)), "time_axis": int(ctx.option("SeqDim", 1))}
    if sorted(attrs.values()) != [0, 1]:
        raise ctx.error(f"batch axis {attrs['batch_axis']} and sequence axis {attrs['time_axis']}: ONNX "
                        "ReverseSequence takes axes 0 and 1 only")  # fmt: skip
    ctx.emit("ReverseSequence", [ctx.moved(0), lengths], attrs)


@layer(TFLITE, "SCATTER_ND")
def scatter_nd(ctx: TfliteContext) -> None:
    """Inputs: indices, updates, shape: updates added into zeros of that shape (duplicates sum)."""
    out = ctx.out_tensor()
    zeros = ctx.constant("zeros", np.zeros(ctx.out_shape(), np.dtype(out.dtype)))
    indices = ctx.node("Cast", [ctx.x(0)], ctx.in_shape(0), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    ctx.emit("ScatterND", [zeros, indices, ctx.x(1)], {"reduction": "add"})


@layer(TFLITE, "MATRIX_DIAG")
def matrix_diag(ctx: TfliteContext) -> None:
    """[..., n] → [..., n, n] with the values on the diagonal: the rows broadcast against eye(n)."""
    shape = ctx.in_shape(0)
    n = shape[-1]
    rows = ctx.node("Unsqueeze", [ctx.x(0), ctx.ints([len(shape) - 1], "axes")], (*shape[:-1], 1, n))
    ctx.emit("Mul", [rows, ctx.constant("eye", np.eye(n, dtype=np.dtype(ctx.out_tensor().dtype)))])


@layer(TFLITE, "RANK")
def rank(ctx: TfliteContext) -> None:
    """The input's rank, which the file states: a constant."""
    value = ctx.constant("rank", np.array(len(ctx.in_shape(0)), np.dtype(ctx.out_tensor().dtype)))
    ctx.emit("Identity", [value], shape=())


@layer(TFLITE, "FAKE_QUANT")
def fake_quant(ctx: TfliteContext) -> None:
    """Quantize and dequantize on min/max nudged so that 0 is exact (Nudge, FakeQuantizeArray in
    LiteRT's quantization_util): clamp to [nudged min, nudged max], subtract the nudged min, scale by
    1/scale, round half away from zero (⌊v⌋ + (v − ⌊v⌋ ≥ ½): v ≥ 0 here), rescale, add the nudged
    min — float32 throughout, the nudging computed here in float32 as the kernel does."""
    f = np.float32
    bits, narrow = int(ctx.option("NumBits", 8)), bool(ctx.option("NarrowRange", False))
    if narrow:
        raise ctx.error("narrow_range: LiteRT's kernel refuses it at run time (meant for weights only)")
    low, high = f(0), f((1 << bits) - 1)
    lowest, highest = f(ctx.option("Min", 0.0)), f(ctx.option("Max", 0.0))
    scale = f((highest - lowest) / (high - low))
    zero_from_min = f(low - lowest / scale)
    zero = f(min(max(math.floor(zero_from_min + 0.5), low), high))  # in range: rounded half away from 0
    nudged_min, nudged_max = f((low - zero) * scale), f((high - zero) * scale)
    shape = ctx.out_shape()

    def c(name: str, value: np.float32) -> str:
        return ctx.constant(name, np.array(value, np.float32))

    clamped = ctx.node("Clip", [ctx.x(0), c("nudged_min", nudged_min), c("nudged_max", nudged_max)], shape)
    shifted = ctx.node("Sub", [clamped, c("nudged_min", nudged_min)], shape)
    steps = ctx.node("Mul", [shifted, c("inverse_scale", f(f(1.0) / scale))], shape)
    whole = ctx.node("Floor", [steps], shape)
    up = ctx.node("GreaterOrEqual", [ctx.node("Sub", [steps, whole], shape), c("half", f(0.5))], shape,
                  dtype="bool")  # fmt: skip
    rounded = ctx.node("Add", [whole, ctx.node("Cast", [up], shape, {"to": ONNX_TYPES["float32"]})], shape)
    ctx.step("split", f"FAKE_QUANT {bits} bits on [{lowest:g}, {highest:g}]: "
                      f"nudged to [{nudged_min:g}, {nudged_max:g}], scale {scale:g}")  # fmt: skip
    ctx.emit("Add", [ctx.node("Mul", [rounded, c("scale", scale)], shape), c("nudged_min", nudged_min)])
