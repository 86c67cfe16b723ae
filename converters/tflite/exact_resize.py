"""`--exact-int8 on`: 8-bit RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR as LiteRT's reference kernels
compute them, on the stored values (the kernels ignore the quantization: input and output share it).

- int8 bilinear (ResizeBilinearInteger): source coordinates in 10-bit fixed point — scale_10 =
  (1024·in + out/2) div out (align_corners: (1024·(in−1) + (out−1)/2) div (out−1)), the coordinate
  y·scale_10 (half-pixel: + scale_10/2 − 512), y0 = max(c div 1024, 0), y1 = min(⌈c/1024⌉, in−1) with
  C's truncating division — the four neighbours weighted (1024 − (c − 1024·y0)) and (c − 1024·y0) on
  each axis, summed in int64 and divided by 2²⁰ rounding half away from zero.
- uint8 bilinear (ResizeBilinear<uint8_t>): the same neighbours in float32 — c = y·s (half-pixel:
  (y + ½)·s − ½), y0 = max(⌊c⌋, 0), y1 = min(⌈c⌉, in−1), weights 1 − (c − y0) and c − y0 — each product
  (v·wy)·wx and their sum in the kernel's order, + ½, truncated.
- nearest (either type): the stored values gathered at the kernel's indices (⌊(x + offset)·s⌋, or
  round half away from zero with align_corners, clamped), computed here in float32 as it does.
The per-axis indices and weights depend only on the sizes, so they are constants; the ONNX model
gathers rows, then columns, of the NHWC input.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext
from netinspect.converters.tflite.exact import _eight_bit, _i64

FRACTION = 10
"""Fractional bits of the int8 kernel's coordinates."""


def applies(ctx: TfliteContext) -> bool:
    """Exact mode, an 8-bit 4-D input computed by the model, the output of the same type, both with
    known heights and widths (the indices and weights are constants of them)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    return (
        ctx.state.exact_int8
        and _eight_bit(x_t, out)
        and x_t.index in ctx.state.stored
        and len(x_t.dims) == 4
        and len(out.dims) == 4
        and all(isinstance(d, int) and d > 0 for d in (*x_t.dims[1:3], *out.dims[1:3]))
    )


def resize(ctx: TfliteContext) -> None:
    """RESIZE_BILINEAR / RESIZE_NEAREST_NEIGHBOR in the reference kernel's arithmetic (module docstring)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    align = bool(ctx.option("AlignCorners", False))
    half = bool(ctx.option("HalfPixelCenters", False))
    (_n, h, w, _c), (_, oh, ow, _) = x_t.dims, out.dims
    stored = ctx.state.stored[x_t.index]
    if ctx.type == "RESIZE_NEAREST_NEIGHBOR":
        rows = ctx.node("Gather", [stored, _index(ctx, "rows", _nearest(h, oh, align, half))],
                        (_n, oh, w, _c), {"axis": 1}, dtype=x_t.dtype)  # fmt: skip
        ctx.step("param", f"exact {x_t.dtype}: nearest neighbours at the reference kernel's indices")
        columns = _index(ctx, "columns", _nearest(w, ow, align, half))
        ctx.node("Gather", [rows, columns], out.dims, {"axis": 2}, output=ctx.outputs[0], dtype=x_t.dtype)
        return
    if x_t.dtype == "int8":
        _bilinear_integer(ctx, stored, (_integer_axis(h, oh, align, half), _integer_axis(w, ow, align, half)))
    else:
        _bilinear_float(ctx, stored, (_float_axis(h, oh, align, half), _float_axis(w, ow, align, half)))


Axis = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Per output coordinate: lower index, upper index, lower weight, upper weight."""


def _integer_axis(size: int, out: int, align: bool, half: bool) -> Axis:
    """ComputeInterpolationValuesInteger along one axis."""
    one = 1 << FRACTION
    if align and out > 1:
        scale = (one * (size - 1) + (out - 1) // 2) // (out - 1)
    else:
        scale = (one * size + out // 2) // out
    lows, highs, low_weights, high_weights = [], [], [], []
    for y in range(out):
        c = y * scale + scale // 2 - (1 << (FRACTION - 1)) if half else y * scale
        low = max(int(c / one), 0)  # C's truncating division
        high = min(int((c + one - 1) / one), size - 1)
        lows.append(low)
        highs.append(high)
        high_weights.append(c - one * low)
        low_weights.append(one - (c - one * low))
    return tuple(np.array(v, np.int64) for v in (lows, highs, low_weights, high_weights))  # type: ignore[return-value]


def _float_axis(size: int, out: int, align: bool, half: bool) -> Axis:
    """ComputeInterpolationValues along one axis, in float32."""
    scale = np.float32(size) / np.float32(out)
    if align and out > 1:
        scale = np.float32(size - 1) / np.float32(out - 1)
    y = np.arange(out, dtype=np.float32)
    c = ((y + np.float32(0.5)) * scale - np.float32(0.5)) if half else y * scale
    c = c.astype(np.float32)
    low = np.maximum(np.floor(c), 0).astype(np.int64)
    high = np.minimum(np.ceil(c), size - 1).astype(np.int64)
    fraction = (c - low.astype(np.float32)).astype(np.float32)
    return low, high, (np.float32(1) - fraction).astype(np.float32), fraction


def _nearest(size: int, out: int, align: bool, half: bool) -> np.ndarray:
    """GetNearestNeighbor for every output coordinate, in float32."""
    if align and out > 1:
        scale = np.float32(size - 1) / np.float32(out - 1)
    else:
        scale = np.float32(size) / np.float32(out)
    offset = np.float32(0.5 if half else 0.0)
    position = ((np.arange(out, dtype=np.float32) + offset) * scale).astype(np.float32)
    if align:
        index = (np.floor(np.abs(position)) + (np.abs(position) % 1 >= 0.5)) * np.sign(position)
    else:
        index = np.floor(position)
    index = np.minimum(index.astype(np.int64), size - 1)
    return np.maximum(index, 0) if half else index


def _index(ctx: TfliteContext, name: str, values: np.ndarray) -> str:
    return ctx.constant(name, np.asarray(values, np.int64))


def _bilinear_integer(ctx: TfliteContext, stored: str, axes: tuple[Axis, Axis]) -> None:
    """Σ v·wy·wx over the four neighbours in int64, then ÷ 2²⁰ rounding half away from zero."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    n, _h, w, c = x_t.dims
    (ys0, ys1, wy0, wy1), (xs0, xs1, wx0, wx1) = axes
    oh = len(ys0)
    wide = ctx.node("Cast", [stored], x_t.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")

    def blend(value: str, axis: int, lows: np.ndarray, highs: np.ndarray, weights: tuple, dims: tuple) -> str:
        shape = [1, 1, 1, 1]
        shape[axis] = len(lows)
        terms = []
        for i, (index, weight) in enumerate(((lows, weights[0]), (highs, weights[1]))):
            at = _index(ctx, f"index_{axis}_{i}", index)
            picked = ctx.node("Gather", [value, at], dims, {"axis": axis}, dtype="int64")
            scale = _i64(ctx, f"weight_{axis}_{i}", weight.reshape(shape))
            terms.append(ctx.node("Mul", [picked, scale], dims, dtype="int64"))
        return ctx.node("Add", terms, dims, dtype="int64")

    rows = blend(wide, 1, ys0, ys1, (wy0, wy1), (n, oh, w, c))
    total = blend(rows, 2, xs0, xs1, (wx0, wx1), out.dims)
    negative = ctx.node("Less", [total, _i64(ctx, "zero", 0)], out.dims, dtype="bool")
    nudge = ctx.node("Where", [negative, _i64(ctx, "minus_half", -(1 << 19)), _i64(ctx, "half", 1 << 19)],
                     out.dims, dtype="int64")  # fmt: skip
    nudged = ctx.node("Add", [total, nudge], out.dims, dtype="int64")
    value = ctx.node("Div", [nudged, _i64(ctx, "two_20", 1 << 20)], out.dims, dtype="int64")  # truncates
    what = "10-bit fixed-point coordinates, int64 sum of the four weighted neighbours ÷ 2²⁰ half away from 0"
    ctx.step("param", f"exact int8: RESIZE_BILINEAR as ResizeBilinearInteger ({what})")
    ctx.node("Cast", [value], out.dims, {"to": ONNX_TYPES["int8"]}, output=ctx.outputs[0], dtype="int8")


def _bilinear_float(ctx: TfliteContext, stored: str, axes: tuple[Axis, Axis]) -> None:
    """((v00·wy0)·wx0 + (v10·wy1)·wx0 + (v01·wy0)·wx1 + (v11·wy1)·wx1) + ½ in float32, truncated."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    n, _h, w, c = x_t.dims
    (ys0, ys1, wy0, wy1), (xs0, xs1, wx0, wx1) = axes
    oh = len(ys0)
    wide = ctx.node("Cast", [stored], x_t.dims, {"to": ONNX_TYPES["float32"]})

    def pick(value: str, axis: int, index: np.ndarray, name: str, dims: tuple) -> str:
        return ctx.node("Gather", [value, _index(ctx, name, index)], dims, {"axis": axis})

    def weight(name: str, values: np.ndarray, axis: int) -> str:
        shape = [1, 1, 1, 1]
        shape[axis] = len(values)
        return ctx.constant(name, np.asarray(values, np.float32).reshape(shape))

    row_dims = (n, oh, w, c)
    rows = {0: pick(wide, 1, ys0, "rows_low", row_dims), 1: pick(wide, 1, ys1, "rows_high", row_dims)}
    terms = []
    for yi, xi in ((0, 0), (1, 0), (0, 1), (1, 1)):
        corner = pick(rows[yi], 2, (xs0, xs1)[xi], f"columns_{xi}", out.dims)
        by_row = ctx.node("Mul", [corner, weight(f"row_weight_{yi}", (wy0, wy1)[yi], 1)], out.dims)
        terms.append(ctx.node("Mul", [by_row, weight(f"column_weight_{xi}", (wx0, wx1)[xi], 2)], out.dims))
    total = terms[0]
    for term in terms[1:]:
        total = ctx.node("Add", [total, term], out.dims)
    rounded = ctx.node("Add", [total, ctx.constant("half", np.float32(0.5))], out.dims)
    truncated = ctx.node("Floor", [rounded], out.dims)  # non-negative: truncation is floor
    ctx.step("param", "exact uint8: RESIZE_BILINEAR as the reference kernel's float32 interpolation, "
                      "products and sums in its order, + ½, truncated")  # fmt: skip
    ctx.node("Cast", [truncated], out.dims, {"to": ONNX_TYPES["uint8"]}, output=ctx.outputs[0], dtype="uint8")
