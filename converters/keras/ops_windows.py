"""Sliding windows gathered or pooled (Keras 3 `keras.ops.adaptive_average_pool`,
`adaptive_max_pool`, `unfold`, `fold`, `correlate`), with the positions computed when the model is read
(every size they depend on is known), each as Keras' TensorFlow backend computes it."""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.keras.ops import Call, Shape, op


def _i64(c: Call, hint: str, values: object) -> str:
    return c.ctx.constant(hint, np.asarray(values, np.int64))


def _adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """(start, length) of each output's window, as Keras' "two-pool gather": windows from
    floor(i·size/out) to ceil((i + 1)·size/out), pooled with the big window (ceil(size/out) + 1)
    when that is their length, else with the small one."""
    small = math.ceil(size / out)
    windows = []
    for i in range(out):
        start = min(math.floor(i * size / out), size - 1)
        end = min(math.ceil((i + 1) * size / out), size)
        windows.append((start, small + 1 if end - start == small + 1 else small))
    return windows


@op(("AdaptiveAveragePool", "AdaptiveMaxPool"), ())
def adaptive_pool(c: Call) -> None:
    """Each spatial axis pooled in turn (a rectangle's mean is the mean of its rows' means): one
    slice and reduction per output position, concatenated."""
    x, shape, dtype = c.first()
    spatial = len(shape) - 2
    channels_first = c.const(99, "data_format", default="channels_last") == "channels_first"
    axes = list(range(2, len(shape))) if channels_first else list(range(1, len(shape) - 1))
    size = c.const(1, "output_size")
    sizes = [int(size)] * spatial if isinstance(size, int) else [int(s) for s in size]
    reduce = "ReduceMax" if c.ctx.type.endswith("MaxPool") else "ReduceMean"
    current: Shape = shape
    for n, (axis, out) in enumerate(zip(axes, sizes, strict=True)):
        length = current[axis]
        if not isinstance(length, int):
            raise c.ctx.error("adaptive pooling needs the spatial sizes known")
        windows = _adaptive_windows(length, out)
        if any(start + width > length for start, width in windows):
            raise c.ctx.error(f"adaptive pooling {length} to {out}: Keras' windows run past the input")
        piece = tuple(1 if k == axis else d for k, d in enumerate(current))
        parts = []
        for start, width in windows:
            window = tuple(width if k == axis else d for k, d in enumerate(current))
            cut = c.node("Slice", [x, _i64(c, "starts", [start]), _i64(c, "ends", [start + width]),
                                   _i64(c, "axes", [axis])], window, dtype=dtype)  # fmt: skip
            parts.append(c.node(reduce, [cut], piece, {"axes": [axis], "keepdims": 1}, dtype=dtype))
        current = tuple(out if k == axis else d for k, d in enumerate(current))
        x = c.node("Concat", parts, current, {"axis": axis}, dtype=dtype, final=n == spatial - 1)


def _pair(value: object) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)  # type: ignore[return-value, union-attr]


@op(("Unfold",), ())
def unfold(c: Call) -> None:
    """Sliding blocks of an (N, C, H, W) image as (N, C·kH·kW, L): zero padding, then one Gather of
    the blocks' flat positions (channel, then kernel row and column, then block, as Keras)."""
    x, shape, dtype = c.first()
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        raise c.ctx.error("unfold takes an (N, C, H, W) image with C, H, W known")
    channels, height, width = (int(d) for d in shape[1:])  # type: ignore[arg-type]
    (kh, kw), (dh, dw) = _pair(c.const(1, "kernel_size")), _pair(c.const(2, "dilation", default=1))
    (ph, pw), (sh, sw) = _pair(c.const(3, "padding", default=0)), _pair(c.const(4, "stride", default=1))
    if ph or pw:
        pads = _i64(c, "pads", [0, 0, ph, pw, 0, 0, ph, pw])
        height, width = height + 2 * ph, width + 2 * pw
        x = c.node("Pad", [x, pads], (shape[0], channels, height, width), dtype=dtype)
    rows = (height - dh * (kh - 1) - 1) // sh + 1
    cols = (width - dw * (kw - 1) - 1) // sw + 1
    i, j, r, q = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(rows), np.arange(cols), indexing="ij")
    positions = ((r * sh + i * dh) * width + q * sw + j * dw).reshape(kh * kw, rows * cols)
    flat = c.node("Reshape", [x, _i64(c, "shape", [0, channels, height * width])],
                  (shape[0], channels, height * width), dtype=dtype)  # fmt: skip
    blocks = c.node("Gather", [flat, _i64(c, "blocks", positions)],
                    (shape[0], channels, kh * kw, rows * cols), {"axis": 2}, dtype=dtype)  # fmt: skip
    out = (shape[0], channels * kh * kw, rows * cols)
    c.node("Reshape", [blocks, _i64(c, "shape", [0, channels * kh * kw, rows * cols])], out, dtype=dtype,
           final=True)  # fmt: skip


@op(("Fold",), ())
def fold(c: Call) -> None:
    """Sliding blocks (N, C·kH·kW, L) summed back into an (N, C, H, W) image (col2im, the inverse
    of unfold): one MatMul with the constant 0/1 matrix sending each block entry to its padded
    position (overlaps add), the padding cropped."""
    x, shape, dtype = c.first()
    (oh, ow), (kh, kw) = _pair(c.const(1, "output_size")), _pair(c.const(2, "kernel_size"))
    (dh, dw), (ph, pw) = _pair(c.const(3, "dilation", default=1)), _pair(c.const(4, "padding", default=0))
    sh, sw = _pair(c.const(5, "stride", default=1))
    height, width = oh + 2 * ph, ow + 2 * pw
    rows = (height - dh * (kh - 1) - 1) // sh + 1
    cols = (width - dw * (kw - 1) - 1) // sw + 1
    if len(shape) != 3 or not isinstance(shape[1], int) or shape[1] % (kh * kw) or shape[2] != rows * cols:
        raise c.ctx.error(f"fold needs (N, C·{kh}·{kw}, {rows * cols}) blocks for that output (got {shape})")
    channels = int(shape[1]) // (kh * kw)
    i, j, r, q = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(rows), np.arange(cols), indexing="ij")
    positions = ((r * sh + i * dh) * width + q * sw + j * dw).reshape(-1)
    scatter = np.zeros((positions.size, height * width), np.dtype(dtype))
    scatter[np.arange(positions.size), positions] = 1
    entries = kh * kw * rows * cols
    flat = c.node("Reshape", [x, _i64(c, "shape", [0, channels, entries])], (shape[0], channels, entries),
                  dtype=dtype)  # fmt: skip
    summed = c.node("MatMul", [flat, c.ctx.constant("fold", scatter)], (shape[0], channels, height * width),
                    dtype=dtype)  # fmt: skip
    image = (shape[0], channels, height, width)
    y = c.node("Reshape", [summed, _i64(c, "shape", [0, channels, height, width])], image, dtype=dtype,
               final=not (ph or pw))  # fmt: skip
    if ph or pw:
        bounds = [_i64(c, "starts", [ph, pw]), _i64(c, "ends", [ph + oh, pw + ow]), _i64(c, "axes", [2, 3])]
        c.node("Slice", [y, *bounds], (shape[0], channels, oh, ow), dtype=dtype, final=True)


@op(("Correlate",), ())
def correlate(c: Call) -> None:
    """Cross-correlation of two vectors: x1 zero-padded by m − 1 on both sides ('full', 'same'), the
    windows gathered and multiplied by x2, summed; 'same' keeps the centred max(n, m) of 'full'
    with Keras' start (full − max(n, m)) // 2."""
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    mode = str(c.const(2, "mode", default="valid"))
    if len(ashape) != 1 or len(bshape) != 1 or not all(isinstance(d, int) for d in (*ashape, *bshape)):
        raise c.ctx.error("correlate takes two vectors of known length")
    n, m = int(ashape[0]), int(bshape[0])  # type: ignore[arg-type]
    if dtype != "float32":
        a = c.node("Cast", [a], ashape, {"to": 1})
        b = c.node("Cast", [b], bshape, {"to": 1})
        dtype = "float32"
    starts = np.arange(n - m + 1)
    if mode in ("full", "same"):
        a = c.node("Pad", [a, _i64(c, "pads", [m - 1, m - 1])], (n + 2 * (m - 1),), dtype=dtype)
        starts = np.arange(n + m - 1)
        if mode == "same":
            keep = max(n, m)
            starts = starts[(n + m - 1 - keep) // 2 :][:keep]
    elif mode != "valid":
        raise c.ctx.error(f"correlate mode {mode!r} is not one of 'full', 'same', 'valid'")
    if len(starts) == 0:
        raise c.ctx.error("correlate in 'valid' mode needs x1 at least as long as x2")
    windows = c.node("Gather", [a, _i64(c, "windows", starts[:, None] + np.arange(m)[None, :])],
                     (len(starts), m), {"axis": 0}, dtype=dtype)  # fmt: skip
    products = c.node("Mul", [windows, b], (len(starts), m), dtype=dtype)
    c.node("ReduceSum", [products, _i64(c, "axes", [1])], (len(starts),), {"keepdims": 0}, dtype=dtype,
           final=True)  # fmt: skip
