"""`--exact-int8 on`: 8-bit TRANSPOSE_CONV as LiteRT's reference kernels compute it
(reference_integer_ops::TransposeConv; reference_ops::TransposeConv for legacy uint8, with the filter's
zero point): every input
cell's Σ (q_in − zp_in)·(w − zp_w) scattered into an int32 buffer, + bias, then
MultiplyByQuantizedMultiplier (per channel for int8), + zp_out, clamped.

The scatter is the correlation of the input spread out by the strides (zero-point cells between its
rows and columns, so they count 0 once centred) with the filter flipped in both spatial axes, padded by
K − 1 − pad before and by what keeps the output size after: ConvInteger computes that sum exactly
in int32 (onnxruntime pads ConvInteger with the input zero point).
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext
from netinspect.converters.tflite.exact import _eight_bit, _requantize, _zero, conv_multipliers


def applies(ctx: TfliteContext, pads: tuple[int, int]) -> bool:
    """Exact mode; 8-bit input, constant filter and output of one type; static shapes but for the batch (sized
    at run time is fine); the conv padding the scatter becomes is not negative (`pads`: TFLite's padding
    before each spatial axis)."""
    if not ctx.state.exact_int8:
        return False
    x_t, w_t, out = ctx.need(2), ctx.need(1), ctx.out_tensor()
    if not (_eight_bit(x_t, w_t, out) and w_t.has_data and x_t.index in ctx.state.stored):
        return False
    dims = (*x_t.dims[1:], *out.dims[1:])
    return all(isinstance(d, int) and d > 0 for d in dims) and all(
        k - 1 - p >= 0 for k, p in zip(w_t.shape[1:3], pads, strict=True)
    )


def transpose_conv(ctx: TfliteContext, pads: tuple[int, int], strides: tuple[int, int]) -> None:
    """The exact 8-bit TRANSPOSE_CONV (module docstring)."""
    x_t, w_t, out = ctx.need(2), ctx.need(1), ctx.out_tensor()
    _o, kh, kw, _i = w_t.shape
    _, oh, ow, _ = out.dims
    zero = np.asarray(_zero(x_t), x_t.dtype)
    spread = ctx.state.stored[x_t.index]
    dims = list(x_t.dims)
    for axis, stride in ((1, strides[0]), (2, strides[1])):
        if stride > 1:
            spread, dims = _spread(ctx, spread, dims, axis, stride, zero)
    conv_pads = []
    for size, k, before, target in ((dims[1], kh, pads[0], oh), (dims[2], kw, pads[1], ow)):
        first = k - 1 - before
        conv_pads.append((first, target - size - first + k - 1))
    attrs = {
        "kernel_shape": [kh, kw],
        "pads": [conv_pads[0][0], conv_pads[1][0], conv_pads[0][1], conv_pads[1][1]],
    }
    flipped = np.asarray(w_t.data(), w_t.dtype)[:, ::-1, ::-1, :]
    weight = ctx.constant("flipped_weight", np.ascontiguousarray(flipped.transpose(0, 3, 1, 2)))
    inputs = [spread, weight, ctx.constant("zero_point", zero)]
    if w_t.dtype == "uint8":
        inputs.append(ctx.constant("weight_zero_point", np.asarray(_zero(w_t), np.uint8)))
    summed = ctx.node("ConvInteger", inputs, out.dims, attrs, dtype="int32", layout="NHWC")
    acc = ctx.node("Cast", [summed], out.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    if ctx.tensor(3) is not None:
        bias = ctx.constant("bias", np.asarray(ctx.const(3), np.int64).reshape(-1))
        acc = ctx.node("Add", [acc, bias], out.dims, dtype="int64")
    spread_by = f"spread by the strides {list(strides)} (zero-point cells)"
    ctx.step("param", f"exact {x_t.dtype}: TRANSPOSE_CONV's scatter as ConvInteger over the input "
                      f"{spread_by}, filter flipped, pads {attrs['pads']}")  # fmt: skip
    _requantize(ctx, acc, conv_multipliers(x_t, w_t, out), out.dims)


def _spread(
    ctx: TfliteContext, value: str, dims: list[int], axis: int, stride: int, zero: np.ndarray
) -> tuple[str, list[int]]:
    """`value` (NHWC, 8-bit) with stride − 1 zero-point cells after each cell of `axis` but the last."""
    size = dims[axis]
    lifted = [*dims[: axis + 1], 1, *dims[axis + 1 :]]
    dtype = str(zero.dtype)
    wide = ctx.node("Unsqueeze", [value, ctx.ints([axis + 1], "axes")], tuple(lifted), dtype=dtype)
    pads = [0] * (2 * len(lifted))
    pads[len(lifted) + axis + 1] = stride - 1
    padded_dims = list(lifted)
    padded_dims[axis + 1] = stride
    padded = ctx.node("Pad", [wide, ctx.ints(pads, "pads"), ctx.constant("zero_point", zero)],
                      tuple(padded_dims), {"mode": "constant"}, dtype=dtype)  # fmt: skip
    merged = list(dims)
    merged[axis] = size * stride
    shape = [0, *merged[1:]]  # 0: the batch copied, whatever it is at run time
    flat = ctx.node("Reshape", [padded, ctx.ints(shape, "shape")], tuple(merged), dtype=dtype)
    kept = list(dims)
    kept[axis] = (size - 1) * stride + 1
    cut = ctx.node("Slice", [flat, ctx.ints([0], "starts"), ctx.ints([kept[axis]], "ends"),
                             ctx.ints([axis], "axes")], tuple(kept), dtype=dtype)  # fmt: skip
    return cut, kept
