"""MediaPipe's custom operators (selfie and hair segmentation models), as LiteRT's XNNPACK delegate
runs them (delegates/xnnpack/xnnpack_delegate.cc: VisitMediaPipe…Node). Their options are not
FlexBuffers but a C struct the kernel casts: TfLiteTransposeConvParams (padding, stride_width,
stride_height) or TfLitePoolParams (padding, stride_width, stride_height, filter_width,
filter_height, activation), with TfLitePadding 1 = SAME, 2 = VALID.

- Convolution2DTransposeBias(x, filter OHWI, bias): TRANSPOSE_CONV's arithmetic and padding with
  the bias as an input → ConvTranspose.
- MaxPoolingWithArgmax2D(x) → (values, indices): windows as large as their stride (XNNPACK's argmax
  pooling has no stride of its own) → MaxPool with its Indices output, on H and W swapped (`SWAP`).
  The file stores the indices as float32 and XNNPACK writes each window's own argmax there; they
  mean something only to MaxUnpooling2D, so ONNX's flat int64 indices stand in for them.
- MaxUnpooling2D(values, indices): each value written at its argmax inside a window of the pooling
  size, zeros elsewhere → MaxUnpool.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite import ops_nn
from netinspect.converters.tflite.context import TFLITE, TfliteContext
from netinspect.registry import layer

SAME, VALID = 1, 2
"""TfLitePadding as a C struct stores it (kTfLitePaddingUnknown is 0)."""


def _struct(ctx: TfliteContext, fields: int) -> list[int]:
    """The first `fields` int32 members of the operator's options struct."""
    raw = ctx.op.custom_options
    if len(raw) < 4 * fields:
        raise ctx.error(f"custom options hold {len(raw)} bytes; {4 * fields} expected (a C struct)")
    values = [int(v) for v in np.frombuffer(raw[: 4 * fields], dtype="<i4")]
    if values[0] not in (SAME, VALID):
        raise ctx.error(f"padding {values[0]} is neither SAME (1) nor VALID (2)")
    return values


@layer(TFLITE, "CUSTOM:Convolution2DTransposeBias")
def convolution_2d_transpose_bias(ctx: TfliteContext) -> None:
    padding, stride_w, stride_h = _struct(ctx, 3)
    strides = (stride_h, stride_w)
    pads, extra = ops_nn.transpose_conv_pads(ctx, 0, strides, same=padding == SAME)
    ctx.step("param", f"options read as TfLiteTransposeConvParams: {'SAME' if padding == SAME else 'VALID'} "
                      f"padding, strides {stride_h}×{stride_w}")  # fmt: skip
    ops_nn.conv_transpose(ctx, 0, 2, strides, pads, extra, activation=0)


def _pool_window(ctx: TfliteContext) -> tuple[int, int]:
    padding, stride_w, stride_h, filter_w, filter_h = _struct(ctx, 5)
    if (stride_h, stride_w) != (filter_h, filter_w):
        raise ctx.error(f"strides {stride_h}×{stride_w} differ from the window {filter_h}×{filter_w} "
                        "(the kernel's windows are as large as their stride)")  # fmt: skip
    _n, h, w, _c = ctx.in_shape(0)
    if padding == SAME and (h % filter_h or w % filter_w):
        raise ctx.error(f"SAME padding of {h}×{w} by {filter_h}×{filter_w} windows is not supported")
    return filter_h, filter_w


SWAP = [0, 2, 1, 3]
"""NHWC ↔ NWHC: XNNPACK's argmax pooling visits each window column by column (its indirection
buffer is pooling_x-major) and keeps the first maximum, so of equal values it picks the lower one
of a column first; ONNX MaxPool visits rows first. Pooling the data with H and W swapped makes
onnxruntime's first maximum XNNPACK's, and MaxUnpool then works in the same swapped frame."""


def _swap(ctx: TfliteContext, x: str, dims: tuple[int, ...], output: str | None = None) -> str:
    n, a, b, c = dims
    return ctx.node("Transpose", [x], (n, b, a, c), {"perm": SWAP}, output=output)


@layer(TFLITE, "CUSTOM:MaxPoolingWithArgmax2D")
def max_pooling_with_argmax(ctx: TfliteContext) -> None:
    if ctx.need(0).dtype != "float32":
        raise ctx.error("only float32 is supported (as XNNPACK's kernel)")
    fh, fw = _pool_window(ctx)
    attrs = {"kernel_shape": [fw, fh], "strides": [fw, fh]}
    n, oh, ow, c = ctx.out_tensor(0).dims
    swapped = (n, ow, oh, c)
    ctx.step("param", "pooled with H and W swapped, so equal values resolve as XNNPACK's column-first "
                      "windows do; the argmax kept as ONNX MaxPool's flat int64 indices in that frame "
                      "(the file's float32 tensor only feeds MaxUnpooling2D)")  # fmt: skip
    results = [(swapped, "float32"), (swapped, "int64")]
    x = _swap(ctx, ctx.x(0), ctx.in_shape(0))
    values, indices = ctx.node_multi("MaxPool", [x], results, attrs, layout="NHWC")
    _swap(ctx, values, swapped, output=ctx.outputs[0])
    ctx.node("Identity", [indices], swapped, dtype="int64", output=ctx.outputs[1])


@layer(TFLITE, "CUSTOM:MaxUnpooling2D")
def max_unpooling(ctx: TfliteContext) -> None:
    fh, fw = _pool_window(ctx)
    attrs = {"kernel_shape": [fw, fh], "strides": [fw, fh]}
    n, h, w, c = ctx.out_tensor(0).dims
    values = _swap(ctx, ctx.x(0), ctx.in_shape(0))
    unpooled = ctx.node("MaxUnpool", [values, ctx.x(1)], (n, w, h, c), attrs, layout="NHWC")
    ctx.emit("Transpose", [unpooled], {"perm": SWAP})
