"""Positions found by comparing (Keras 3 `keras.ops.searchsorted`, `argpartition`, greedy
`ctc_decode`) and frames of a signal (`extract_sequences`), each as Keras' TensorFlow backend computes it."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, op
from netinspect.dtypes import elem_type


@op(("SearchSorted",), ("searchsorted",))
def searchsorted(c: Call) -> None:
    """Insertion positions in a sorted vector: how many entries are below each value ('left') or
    not above it ('right'), int32 as Keras gives for sequences that short."""
    (seq, sshape, dtype), (values, vshape, _) = c.operands(c.arg(0, "sorted_sequence"), c.arg(1, "values"))
    if len(sshape) != 1 or not isinstance(sshape[0], int):
        raise c.ctx.error("searchsorted takes a sorted vector of known length (as Keras' TensorFlow backend)")
    side = str(c.const(2, "side", default="left"))
    if str(c.const(99, "out_type", default="int32")) not in ("int32", "tf.int32"):
        raise c.ctx.error("searchsorted with an out_type other than int32 is not supported")
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


@op(("ExtractSequences",), ("signal.frame",))
def extract_sequences(c: Call) -> None:
    """Frames of `sequence_length` every `sequence_stride` along the last axis (tf.signal.frame,
    which tf-keras records as itself, no end padding): one Gather of a constant position matrix."""
    x, shape, dtype = c.first()
    length = int(c.const(1, "sequence_length", "frame_length"))
    stride = int(c.const(2, "sequence_stride", "frame_step"))
    if c.const(3, "pad_end", default=False) or int(c.const(5, "axis", default=-1)) not in (
        -1,
        len(shape) - 1,
    ):
        raise c.ctx.error("framing is supported along the last axis without end padding")
    n = shape[-1]
    if not isinstance(n, int):
        raise c.ctx.error("extract_sequences needs the signal length known")
    frames = max(0, 1 + (n - length) // stride)
    positions = np.arange(frames)[:, None] * stride + np.arange(length)[None, :]
    index = c.ctx.constant("frames", positions.astype(np.int64))
    c.node("Gather", [x, index], (*shape[:-1], frames, length), {"axis": len(shape) - 1}, dtype=dtype,
           final=True)  # fmt: skip


def _bounds(c: Call, start: int, end: int, axis: int) -> list[str]:
    """Slice's starts, ends and axes for one axis."""
    return [
        c.ctx.constant(h, np.array([v], np.int64))
        for h, v in (("starts", start), ("ends", end), ("axes", axis))
    ]


@op(("CTCDecode",), ())
def ctc_decode(c: Call) -> None:
    """Greedy CTC decoding as tf.nn.ctc_greedy_decoder made dense by Keras: each step's best
    class (the first on ties), steps past the sample's length dropped, blanks (`mask_index`) and
    (with `merge_repeated`) a class equal to the previous step's dropped, the rest moved left into
    a (1, batch, steps) tensor of −1 (CumSum positions, ScatterElements, a spill column for the
    dropped); the score is minus the sum of the kept steps' best logits. Beam search is not
    supported."""
    x, shape, dtype = c.tensor(c.arg(0, "inputs"))
    lengths, _, ltype = c.tensor(c.arg(1, "sequence_lengths"), like="int64")
    if c.const(99, "strategy", default="greedy") != "greedy":
        raise c.ctx.error("ctc_decode with beam search is not supported (greedy only)")
    steps = shape[1] if len(shape) == 3 else None
    if not isinstance(steps, int):
        raise c.ctx.error("ctc_decode needs (batch, steps, classes) inputs with the steps known")
    blank = int(c.const(99, "mask_index", default=0))
    if blank < 0:
        blank += int(shape[2])  # type: ignore[arg-type]
    merge = bool(c.const(99, "merge_repeated", default=True))
    batch = shape[0]
    plane = (batch, steps)
    best = c.node("ArgMax", [x], plane, {"axis": 2, "keepdims": 0}, dtype="int64")
    top = c.node("ReduceMax", [x], plane, {"axes": [2], "keepdims": 0}, dtype=dtype)
    if ltype != "int64":
        lengths = c.node("Cast", [lengths], (batch,), {"to": elem_type("int64")}, dtype="int64")
    column = c.node("Unsqueeze", [lengths, c.ctx.constant("axes", np.array([1], np.int64))], (batch, 1),
                    dtype="int64")  # fmt: skip
    within = c.node("Less", [c.ctx.constant("steps", np.arange(steps, dtype=np.int64)), column], plane,
                    dtype="bool")  # fmt: skip
    is_blank = c.node(
        "Equal", [best, c.ctx.constant("blank", np.array(blank, np.int64))], plane, dtype="bool"
    )
    keep = c.node("And", [within, c.node("Not", [is_blank], plane, dtype="bool")], plane, dtype="bool")
    if merge:
        start = c.node("Slice", [best, *_bounds(c, 0, steps - 1, 1)], (batch, steps - 1), dtype="int64")
        column_shape = c.node("Shape", [column], (2,), dtype="int64")
        none = c.ctx.constant("none", np.array([[-1]], np.int64))
        first = c.node("Expand", [none, column_shape], (batch, 1), dtype="int64")
        previous = c.node("Concat", [first, start], plane, {"axis": 1}, dtype="int64")
        repeated = c.node("Equal", [best, previous], plane, dtype="bool")
        keep = c.node("And", [keep, c.node("Not", [repeated], plane, dtype="bool")], plane, dtype="bool")
    kept = c.node("Cast", [keep], plane, {"to": elem_type("int64")}, dtype="int64")
    one = c.ctx.constant("one", np.array(1, np.int64))
    position = c.node("Sub", [c.node("CumSum", [kept, c.ctx.constant("axis", np.array(1, np.int64))], plane,
                                     dtype="int64"), one], plane, dtype="int64")  # fmt: skip
    target = c.node("Where", [keep, position, c.ctx.constant("spill", np.array(steps, np.int64))], plane,
                    dtype="int64")  # fmt: skip
    rows = c.node("Slice", [c.node("Shape", [best], (2,), dtype="int64"), *_bounds(c, 0, 1, 0)], (1,),
                  dtype="int64")  # fmt: skip
    width = c.ctx.constant("width", np.array([steps + 1], np.int64))
    wide = c.node("Concat", [rows, width], (2,), {"axis": 0}, dtype="int64")
    empty = c.node("Expand", [c.ctx.constant("fill", np.array(-1, np.int64)), wide], (batch, steps + 1),
                   dtype="int64")  # fmt: skip
    labels = c.node("ScatterElements", [empty, target, best], (batch, steps + 1), {"axis": 1}, dtype="int64")
    labels = c.node("Slice", [labels, *_bounds(c, 0, steps, 1)], plane, dtype="int64")
    labels = c.node("Cast", [labels], plane, {"to": elem_type("int32")}, dtype="int32")
    outputs = [*c.ctx.outputs, None, None]
    if outputs[0] is not None:
        c.ctx.node("Unsqueeze", [labels, c.ctx.constant("axes", np.array([0], np.int64))], (1, batch, steps),
                   output=outputs[0], dtype="int32")  # fmt: skip
    if outputs[1] is not None:
        zero = c.ctx.constant("zero", np.array(0, dtype))
        counted = c.node("Where", [within, top, zero], plane, dtype=dtype)
        total = c.node("ReduceSum", [counted, c.ctx.constant("axes", np.array([1], np.int64))], (batch, 1),
                       {"keepdims": 1}, dtype=dtype)  # fmt: skip
        c.ctx.node("Neg", [total], (batch, 1), output=outputs[1], dtype=dtype)
