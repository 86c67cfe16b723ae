"""Builtins computing integers from values: BUCKETIZE, UNIQUE, RIGHT_SHIFT and BROADCAST_ARGS
(tensorflow/lite/kernels/bucketize.cc, unique.cc, right_shift.cc, broadcast_args.cc)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


@layer(TFLITE, "BUCKETIZE")
def bucketize(ctx: TfliteContext) -> None:
    """The kernel's std::upper_bound: how many boundaries are ≤ each value (boundaries sorted), as
    the count of GreaterOrEqual against each boundary. The boundaries are float32; C++ compares an
    integer value with them as float, a double value in double."""
    boundaries = np.asarray(ctx.option("Boundaries", []), np.float32).reshape(-1)
    shape = ctx.in_shape(0)
    if not boundaries.size:
        ctx.emit("Expand", [ctx.constant("zero", np.zeros((), np.int32)), ctx.ints(list(shape))])
        return
    value = ctx.x(0)
    kind = ctx.builder.dtype(value) or "float32"
    if kind not in ("float32", "float64"):
        value = ctx.node("Cast", [value], shape, {"to": ONNX_TYPES["float32"]})
        kind = "float32"
    values = ctx.node("Unsqueeze", [value, ctx.ints([len(shape)], "axes")], (*shape, 1), dtype=kind)
    edges = ctx.constant("boundaries", boundaries.astype(kind))
    above = ctx.node("GreaterOrEqual", [values, edges], (*shape, boundaries.size), dtype="bool")
    counted = ctx.node("Cast", [above], (*shape, boundaries.size), {"to": ONNX_TYPES["int32"]}, dtype="int32")
    ctx.emit("ReduceSum", [counted, ctx.ints([len(shape)], "axes")], {"keepdims": 0})


@layer(TFLITE, "UNIQUE")
def unique(ctx: TfliteContext) -> None:
    """Values in order of first occurrence and each element's index among them: ONNX Unique unsorted
    (its `inverse_indices`, int64, cast to the kernel's idx_out_type)."""
    if len(ctx.in_shape(0)) != 1:
        raise ctx.error(f"input of shape {list(ctx.in_shape(0))}: UNIQUE takes a vector")
    dtype = ctx.compute_dtype(0)
    values, _first, inverse, _counts = ctx.node_multi(
        "Unique", [ctx.x(0)], [((None,), dtype), ((None,), "int64"), ((ctx.in_shape(0)[0],), "int64"),
                               ((None,), "int64")], {"sorted": 0},
    )  # fmt: skip
    ctx.emit("Identity", [values], shape=(None,))
    ctx.emit("Cast", [inverse], {"to": ONNX_TYPES[ctx.out_tensor(1).dtype]}, k=1)


@layer(TFLITE, "RIGHT_SHIFT")
def right_shift(ctx: TfliteContext) -> None:
    """x >> y with y clamped to [0, bits − 1], arithmetic for signed types: unsigned as ONNX BitShift,
    signed as ⌊x / 2^y⌋ in float64 (exact for 32-bit integers)."""
    dtype = np.dtype(ctx.out_tensor().dtype)
    bits = dtype.itemsize * 8
    shape = ctx.out_shape()
    amount = ctx.node("Clip", [ctx.x(1), ctx.constant("low", np.array(0, dtype)),
                               ctx.constant("high", np.array(bits - 1, dtype))], ctx.in_shape(1))  # fmt: skip
    if dtype.kind == "u":
        ctx.emit("BitShift", [ctx.x(0), amount], {"direction": "RIGHT"})
        return
    wide = {"to": ONNX_TYPES["float64"]}
    x = ctx.node("Cast", [ctx.x(0)], ctx.in_shape(0), wide, dtype="float64")
    power = ctx.node("Pow", [ctx.constant("two", np.float64(2.0)),
                             ctx.node("Cast", [amount], ctx.in_shape(1), wide, dtype="float64")],
                     ctx.in_shape(1), dtype="float64")  # fmt: skip
    floor = ctx.node("Floor", [ctx.node("Div", [x, power], shape, dtype="float64")], shape, dtype="float64")
    ctx.step("split", "signed RIGHT_SHIFT as ⌊x / 2^y⌋ in float64 (ONNX BitShift takes unsigned types)")
    ctx.emit("Cast", [floor], {"to": ONNX_TYPES[dtype.name]})


@layer(TFLITE, "BROADCAST_ARGS")
def broadcast_args(ctx: TfliteContext) -> None:
    """The broadcast of two shapes: the shorter padded with 1s in front, then, axis by axis, the
    other's size where one is 1 (the kernel refuses shapes that do not broadcast)."""
    lengths = [ctx.in_shape(0)[0], ctx.in_shape(1)[0]]
    longest = max(lengths)
    dtype = ctx.out_tensor().dtype
    shapes = []
    for i, length in enumerate(lengths):
        value = ctx.x(i)
        if length < longest:
            ones = ctx.constant("ones", np.ones(longest - length, np.dtype(dtype)))
            value = ctx.node("Concat", [ones, value], (longest,), {"axis": 0}, dtype=dtype)
        shapes.append(value)
    first_is_one = ctx.node("Equal", [shapes[0], ctx.constant("one", np.array(1, np.dtype(dtype)))],
                            (longest,), dtype="bool")  # fmt: skip
    ctx.emit("Where", [first_is_one, shapes[1], shapes[0]])
