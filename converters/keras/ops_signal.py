"""Fourier transforms of functional graphs (Keras 3 `keras.ops.rfft`, `irfft`, `fft`, `fft2`, `ifft2`,
`stft`, `istft`).

Keras passes and returns complex values as a pair of float tensors (real, imaginary); ONNX's DFT
(opset 17) reads and writes them as one float tensor with a trailing axis of 2. Each transform
stacks the pair (or adds a zero imaginary axis to a real signal), runs one DFT per transformed
axis, and splits the result back into the two outputs Keras gives.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, Shape, TensorArg, op


def _pair_input(c: Call) -> tuple[str, Shape, str]:
    """The (real, imaginary) operand as one (…, 2) tensor."""
    value = c.arg(0, "x")
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, TensorArg) for v in value)):
        raise c.ctx.error("expects its input as a pair of tensors (real, imaginary)")
    (re, shape, dtype), (im, _, _) = c.tensor(value[0]), c.tensor(value[1])
    axes = c.ctx.constant("axes", np.array([len(shape)], np.int64))
    parts = [c.node("Unsqueeze", [v, axes], (*shape, 1), dtype=dtype) for v in (re, im)]
    return c.node("Concat", parts, (*shape, 2), {"axis": len(shape)}, dtype=dtype), shape, dtype


def _split_pair(c: Call, y: str, shape: Shape, dtype: str) -> None:
    """(…, 2) → the call's real and imaginary outputs."""
    outputs = list(c.ctx.outputs) + [None] * (2 - len(c.ctx.outputs))
    for k, name in enumerate(outputs):
        if name is None:
            continue
        index = c.ctx.constant("part", np.array(k, np.int64))
        c.ctx.node("Gather", [y, index], shape, {"axis": len(shape)}, output=name, dtype=dtype)


@op(("RFFT",), ())
def rfft(c: Call) -> None:
    """The one-sided DFT of a real signal along the last axis, `fft_length` cropping or padding it."""
    x, shape, dtype = c.first()
    rank = len(shape)
    length = c.const(1, "fft_length", default=None)
    n = shape[-1] if length is None else int(length)
    if not isinstance(n, int):
        raise c.ctx.error("an rfft needs the signal length known")
    real = c.node(
        "Unsqueeze", [x, c.ctx.constant("axes", np.array([rank], np.int64))], (*shape, 1), dtype=dtype
    )
    out = (*shape[:-1], n // 2 + 1)
    y = c.node("DFT", [real, c.ctx.constant("length", np.array(n, np.int64))], (*out, 2),
               {"axis": rank - 1, "onesided": 1}, dtype=dtype)  # fmt: skip
    _split_pair(c, y, out, dtype)


@op(("FFT", "FFT2", "IFFT2"), ())
def fft(c: Call) -> None:
    """The full DFT of a complex signal along the last axis (fft) or the last two (fft2; ifft2
    inverse, divided by the count as Keras and ONNX both do)."""
    y, shape, dtype = _pair_input(c)
    kind = c.ctx.type.rsplit(".", 1)[-1]
    axes = [len(shape) - 1] if kind == "FFT" else [len(shape) - 2, len(shape) - 1]
    for axis in axes:
        if not isinstance(shape[axis], int):
            raise c.ctx.error("a Fourier transform needs the signal length known")
        y = c.node("DFT", [y], (*shape, 2), {"axis": axis, "inverse": int(kind == "IFFT2")}, dtype=dtype)
    _split_pair(c, y, shape, dtype)


@op(("IRFFT",), ())
def irfft(c: Call) -> None:
    """The real signal of a one-sided spectrum: its first n/2 + 1 bins (cropped or zero-padded, n
    = `fft_length` or 2·(bins − 1)), the other half mirrored as their conjugates, one inverse DFT
    (divided by n, as TensorFlow), its real part. The imaginary parts of the zero and Nyquist bins
    drop out, as in TensorFlow's."""
    y, shape, dtype = _pair_input(c)
    bins = shape[-1]
    length = c.const(1, "fft_length", default=None)
    if not isinstance(bins, int):
        raise c.ctx.error("an irfft needs the number of bins known")
    n = 2 * (bins - 1) if length is None else int(length)
    _inverse_real(c, y, shape, dtype, n, final=True)


def _inverse_real(c: Call, y: str, shape: Shape, dtype: str, n: int, final: bool = False) -> str:
    """irfft of a (…, bins, 2) spectrum to (…, n)."""
    rank = len(shape)
    bins = int(shape[-1])  # type: ignore[arg-type]
    half = n // 2 + 1
    if half < bins:
        ends = c.ctx.constant("ends", np.array([half], np.int64))
        axes = c.ctx.constant("axes", np.array([rank - 1], np.int64))
        y = c.node("Slice", [y, c.ctx.constant("starts", np.array([0], np.int64)), ends, axes],
                   (*shape[:-1], half, 2), dtype=dtype)  # fmt: skip
    elif half > bins:
        pads = np.zeros(2 * (rank + 1), np.int64)
        pads[rank + 1 + rank - 1] = half - bins
        y = c.node("Pad", [y, c.ctx.constant("pads", pads)], (*shape[:-1], half, 2), dtype=dtype)
    mirrored = [n - k for k in range(half, n)]
    parts = [y]
    if mirrored:
        picked = c.node("Gather", [y, c.ctx.constant("mirror", np.array(mirrored, np.int64))],
                        (*shape[:-1], len(mirrored), 2), {"axis": rank - 1}, dtype=dtype)  # fmt: skip
        conjugate = c.ctx.constant("conjugate", np.array([1.0, -1.0], dtype))
        parts.append(c.node("Mul", [picked, conjugate], (*shape[:-1], len(mirrored), 2), dtype=dtype))
    full = c.node("Concat", parts, (*shape[:-1], n, 2), {"axis": rank - 1}, dtype=dtype)
    signal = c.node("DFT", [full], (*shape[:-1], n, 2), {"axis": rank - 1, "inverse": 1}, dtype=dtype)
    real = c.ctx.constant("part", np.array(0, np.int64))
    return c.node("Gather", [signal, real], (*shape[:-1], n), {"axis": rank}, dtype=dtype, final=final)


def _window(c: Call, length: int, fft_length: int, position: int = 4) -> np.ndarray | None:
    """Keras' stft window, tf.signal's "periodic" Hann or Hamming — periodic only for an even
    length: TensorFlow divides by length − 1 for an odd one (measured: hann_window(5) is
    [0, .5, 1, .5, 0]) — zero-padded to `fft_length` around its centre as Keras pads it. (An
    array window makes the model unsavable: Keras cannot serialize it.)"""
    window = c.const(position, "window", default="hann")
    if window is None:
        return None
    if window not in ("hann", "hamming"):
        raise c.ctx.error(f"stft window {window!r} is not 'hann' or 'hamming'")
    a = 0.5 if window == "hann" else 0.54
    span = length if length % 2 == 0 else length - 1
    n = np.arange(length, dtype=np.float64)
    values = a - (1.0 - a) * np.cos(2.0 * np.pi * n / span) if span else np.ones(length)
    left = (fft_length - length) // 2
    return np.pad(values, (left, fft_length - length - left)).astype(np.float32)


@op(("STFT",), ())
def stft(c: Call) -> None:
    """Short-time Fourier transform as Keras' TensorFlow backend: the signal reflect-padded by
    fft_length // 2 on both ends (`center`), frames of fft_length every `sequence_stride`, each
    times the window, one one-sided DFT; (real, imaginary) out."""
    x, shape, dtype = c.first()
    rank = len(shape)
    length = int(c.const(1, "sequence_length"))
    stride = int(c.const(2, "sequence_stride"))
    fft_length = int(c.const(3, "fft_length"))
    total = shape[-1]
    if not isinstance(total, int):
        raise c.ctx.error("an stft needs the signal length known")
    if c.const(5, "center", default=True):
        half = fft_length // 2
        pads = np.zeros(2 * rank, np.int64)
        pads[rank - 1] = pads[2 * rank - 1] = half
        total += 2 * half
        x = c.node("Pad", [x, c.ctx.constant("pads", pads)], (*shape[:-1], total), {"mode": "reflect"},
                   dtype=dtype)  # fmt: skip
    frames = 1 + (total - fft_length) // stride
    positions = np.arange(frames)[:, None] * stride + np.arange(fft_length)[None, :]
    framed_shape = (*shape[:-1], frames, fft_length)
    y = c.node("Gather", [x, c.ctx.constant("frames", positions.astype(np.int64))], framed_shape,
               {"axis": rank - 1}, dtype=dtype)  # fmt: skip
    window = _window(c, length, fft_length)
    if window is not None:
        y = c.node("Mul", [y, c.ctx.constant("window", window.astype(dtype))], framed_shape, dtype=dtype)
    real = c.node("Unsqueeze", [y, c.ctx.constant("axes", np.array([rank + 1], np.int64))],
                  (*framed_shape, 1), dtype=dtype)  # fmt: skip
    out = (*shape[:-1], frames, fft_length // 2 + 1)
    spectrum = c.node("DFT", [real], (*out, 2), {"axis": rank, "onesided": 1}, dtype=dtype)
    _split_pair(c, spectrum, out, dtype)


@op(("ISTFT",), ())
def istft(c: Call) -> None:
    """The inverse of stft as Keras' TensorFlow backend computes it (tf.signal.inverse_stft): each
    frame's irfft times the window divided by the sum of the squared windows overlapping it
    (inverse_stft_window_fn), the frames overlapped and added (one MatMul with a constant 0/1
    matrix), then cropped: fft_length // 2 off the start with `center`, `length` kept when given,
    as much off the end with `center`."""
    y, shape, dtype = _pair_input(c)
    length = int(c.const(1, "sequence_length"))
    stride = int(c.const(2, "sequence_stride"))
    fft_length = int(c.const(3, "fft_length"))
    keep = c.const(4, "length", default=None)
    center = bool(c.const(6, "center", default=True))
    frames, bins = shape[-2], shape[-1]
    if not (isinstance(frames, int) and isinstance(bins, int)):
        raise c.ctx.error("an istft needs the numbers of frames and bins known")
    signal = _inverse_real(c, y, shape, dtype, fft_length)
    window = _window(c, length, fft_length, position=5)
    if window is not None:
        overlaps = -(-fft_length // stride)
        squares = np.pad(window.astype(np.float64) ** 2, (0, overlaps * stride - fft_length))
        denominator = np.tile(squares.reshape(overlaps, stride).sum(0), overlaps)[:fft_length]
        inverse = (window / denominator).astype(dtype)
        signal = c.node(
            "Mul", [signal, c.ctx.constant("window", inverse)], (*shape[:-1], fft_length), dtype=dtype
        )
    total = fft_length + stride * (frames - 1)
    add = np.zeros((frames * fft_length, total), np.dtype(dtype))
    for f in range(frames):
        add[f * fft_length + np.arange(fft_length), f * stride + np.arange(fft_length)] = 1
    flat_shape = (*shape[:-2], frames * fft_length)
    target = c.ctx.constant("shape", np.array([0] * (len(shape) - 2) + [-1], np.int64))
    flat = c.node("Reshape", [signal, target], flat_shape, dtype=dtype)
    summed = c.node("MatMul", [flat, c.ctx.constant("overlap_add", add)], (*shape[:-2], total), dtype=dtype)
    start = fft_length // 2 if center else 0
    end = start + int(keep) if keep is not None else (total - fft_length // 2 if center else total)
    end = min(end, total)
    spans = (("starts", start), ("ends", end), ("axes", len(shape) - 2))
    bounds = [c.ctx.constant(h, np.array([v], np.int64)) for h, v in spans]
    c.node("Slice", [summed, *bounds], (*shape[:-2], max(0, end - start)), dtype=dtype, final=True)
