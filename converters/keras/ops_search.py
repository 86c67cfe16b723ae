"""Positions found by comparing (Keras 3 `keras.ops.searchsorted`, `argpartition`) and frames of
a signal (`extract_sequences`), each as Keras' TensorFlow backend computes it."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, op
from netinspect.dtypes import elem_type


@op(("SearchSorted",), ())
def searchsorted(c: Call) -> None:
    """Insertion positions in a sorted vector: how many entries are below each value ('left') or
    not above it ('right'), int32 as Keras gives for sequences that short."""
    (seq, sshape, dtype), (values, vshape, _) = c.operands(c.arg(0, "sorted_sequence"), c.arg(1, "values"))
    if len(sshape) != 1 or not isinstance(sshape[0], int):
        raise c.ctx.error("searchsorted takes a sorted vector of known length (as Keras' TensorFlow backend)")
    side = str(c.const(2, "side", default="left"))
    axes = c.ctx.constant("axes", np.array([-1], np.int64))
    column = c.node("Unsqueeze", [values, axes], (*vshape, 1), dtype=dtype)
    pairs = (*vshape, sshape[0])
    before = c.node("Less" if side == "left" else "LessOrEqual", [seq, column], pairs, dtype="bool")
    counts = c.node("Cast", [before], pairs, {"to": elem_type("int32")}, dtype="int32")
    c.node("ReduceSum", [counts, axes], vshape, {"keepdims": 0}, dtype="int32", final=True)


@op(("Argpartition",), ())
def argpartition(c: Call) -> None:
    """Keras' TensorFlow algorithm on a vector, step for step: the values truncated to int32, the
    kth + 1 smallest first (ascending, ties by position), then the rest ranked after setting those
    places to 0 (so its order, not only its set, is Keras'). Higher ranks are refused: Keras' sum
    over the first axis of its one-hot mask mixes rows there."""
    x, shape, dtype = c.first()
    axis = c.const(2, "axis", default=-1)
    if len(shape) != 1 and axis is not None:
        raise c.ctx.error("argpartition is supported on vectors (Keras' TensorFlow backend mixes rows)")
    if len(shape) != 1 or not isinstance(shape[0], int):
        raise c.ctx.error("argpartition needs a vector of known length")
    n = int(shape[0])
    k = min(max(int(c.const(1, "kth")), 0), n - 1)
    if dtype != "int32":
        x = c.node("Cast", [x], shape, {"to": elem_type("int32")}, dtype="int32")
    negated = c.node("Neg", [x], shape, dtype="int32")

    def topk(values: str, count: int) -> str:
        k_ = c.ctx.constant("k", np.array([count], np.int64))
        results = [((count,), "int32"), ((count,), "int64")]
        return c.ctx.node_multi("TopK", [values, k_], results, {"largest": 1, "sorted": 1})[1]

    bottom = topk(negated, k + 1)
    zeros = c.ctx.constant("zeros", np.zeros(k + 1, np.int32))
    masked = c.node("ScatterElements", [x, bottom, zeros], shape, {"axis": 0}, dtype="int32")
    parts = [bottom]
    if n - k - 1 > 0:
        parts.append(topk(masked, n - k - 1))
    joined = c.node("Concat", parts, (n,), {"axis": 0}, dtype="int64")
    c.node("Cast", [joined], (n,), {"to": elem_type("int32")}, dtype="int32", final=True)


@op(("ExtractSequences",), ())
def extract_sequences(c: Call) -> None:
    """Frames of `sequence_length` every `sequence_stride` along the last axis (tf.signal.frame,
    no end padding): one Gather of a constant position matrix."""
    x, shape, dtype = c.first()
    length = int(c.const(1, "sequence_length"))
    stride = int(c.const(2, "sequence_stride"))
    n = shape[-1]
    if not isinstance(n, int):
        raise c.ctx.error("extract_sequences needs the signal length known")
    frames = max(0, 1 + (n - length) // stride)
    positions = np.arange(frames)[:, None] * stride + np.arange(length)[None, :]
    index = c.ctx.constant("frames", positions.astype(np.int64))
    c.node("Gather", [x, index], (*shape[:-1], frames, length), {"axis": len(shape) - 1}, dtype=dtype,
           final=True)  # fmt: skip
