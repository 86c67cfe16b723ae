"""Builtins that choose elements: WHERE (tf.where with one argument), NON_MAX_SUPPRESSION_V4 / V5 and
HASHTABLE_LOOKUP (tensorflow/lite/kernels/where.cc, non_max_suppression.cc, hashtable_lookup.cc)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


@layer(TFLITE, "WHERE")
def where(ctx: TfliteContext) -> None:
    """The coordinates of the true (non-zero) elements, [count, rank] int64 in row-major order: ONNX
    NonZero gives them as [rank, count], so transposed."""
    if len([i for i in ctx.op.inputs if i >= 0]) != 1:
        raise ctx.error("WHERE with three inputs is SELECT's job; this one has more than a condition")
    rank = len(ctx.in_shape(0))
    found = ctx.node("NonZero", [ctx.x(0)], (rank, None), dtype="int64")
    ctx.emit("Transpose", [found], {"perm": [1, 0]})


@layer(TFLITE, "NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5")
def non_max_suppression(ctx: TfliteContext) -> None:
    """Inputs: boxes [n, 4] (y1, x1, y2, x2, corners in either order), scores [n], max_output_size,
    iou_threshold, score_threshold (V5: soft_nms_sigma). Outputs: the selected indices (int32) padded
    with zeros to max_output_size, V5 their scores (padded with zeros), then how many are valid.

    The kernel takes boxes scoring above the threshold, best first, and drops a box whose IoU with
    one already chosen is ≥ the IoU threshold; ONNX drops it when the IoU is above its threshold, so
    it is given the float just below (at least 0, which ONNX requires). Equal scores are taken in
    the order of the runtime's priority queue on both sides, which neither specifies."""
    soft = ctx.type == "NON_MAX_SUPPRESSION_V5"
    if soft:
        _require_hard(ctx)
    count = ctx.in_shape(0)[0]
    boxes = ctx.node("Unsqueeze", [ctx.x(0), ctx.ints([0], "axes")], (1, count, 4))
    scores = ctx.node("Unsqueeze", [ctx.x(1), ctx.ints([0, 1], "axes")], (1, 1, count))
    most = _as_int64_vector(ctx, 2)
    limit = int(ctx.const(2).reshape(-1)[0]) if ctx.need(2).has_data else None
    selected = ctx.node(
        "NonMaxSuppression",
        [boxes, scores, most, _iou_threshold(ctx), ctx.node("Reshape", [ctx.x(4), ctx.ints([1])], (1,))],
        (None, 3), dtype="int64",
    )  # fmt: skip
    ctx.step("split", f"{ctx.type} as NonMaxSuppression (one batch, one class; IoU ≥ threshold "
                      "suppressed, score > threshold kept), indices padded with zeros to "
                      "max_output_size")  # fmt: skip
    chosen = ctx.node("Gather", [selected, ctx.constant("box_column", np.int64(2))], (None,), {"axis": 1},
                      dtype="int64")  # fmt: skip
    found = ctx.node("Shape", [chosen], (1,), dtype="int64")
    missing = ctx.node("Sub", [most, found], (1,), dtype="int64")
    pads = ctx.node("Concat", [ctx.ints([0], "zero"), missing], (2,), {"axis": 0}, dtype="int64")
    padded = ctx.node("Pad", [chosen, pads], (limit,), dtype="int64")
    ctx.emit("Cast", [padded], {"to": ONNX_TYPES["int32"]}, shape=(limit,))
    if soft:
        picked = ctx.node("Gather", [ctx.x(1), chosen], (None,), {"axis": 0})
        ctx.emit("Pad", [picked, pads], k=1, shape=(limit,))
    valid = ctx.node("Squeeze", [found, ctx.ints([0], "axes")], (), dtype="int64")
    ctx.emit("Cast", [valid], {"to": ONNX_TYPES["int32"]}, k=2 if soft else 1, shape=())


def _require_hard(ctx: TfliteContext) -> None:
    """V5 with soft_nms_sigma > 0 decays overlapping boxes' scores (Soft-NMS) instead of dropping them:
    ONNX NonMaxSuppression cannot, so only σ = 0 (plain NMS) is converted."""
    if not ctx.need(5).has_data:
        raise ctx.error("soft_nms_sigma is computed at run time: only σ = 0 (plain NMS) can be converted")
    sigma = float(ctx.const(5).reshape(-1)[0])
    if sigma != 0.0:
        raise ctx.error(f"soft_nms_sigma {sigma:g} > 0 is Soft-NMS (scores decayed by exp(−IoU²/2σ)), "
                        "which ONNX NonMaxSuppression cannot express; only σ = 0 (plain NMS) is "
                        "converted")  # fmt: skip


def _as_int64_vector(ctx: TfliteContext, i: int) -> str:
    """A scalar integer input as the int64 [1] ONNX NonMaxSuppression and Pad take."""
    if ctx.need(i).has_data:
        return ctx.ints(ctx.const(i).reshape(-1)[:1], "max_output_size")
    wide = ctx.node("Cast", [ctx.x(i)], ctx.in_shape(i), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    return ctx.node("Reshape", [wide, ctx.ints([1])], (1,), dtype="int64")


def _iou_threshold(ctx: TfliteContext) -> str:
    """The float just below the kernel's IoU threshold (ONNX suppresses IoU > it, the kernel ≥), never
    below 0; computed in the graph (× (1 − 2⁻²⁴), the float below any normal positive float) when
    the file does not store it."""
    if ctx.need(3).has_data:
        t = np.float32(ctx.const(3).reshape(-1)[0])
        below = max(np.nextafter(t, np.float32(-np.inf), dtype=np.float32), np.float32(0.0))
        return ctx.constant("iou_threshold", np.array([below], np.float32))
    t = ctx.node("Reshape", [ctx.x(3), ctx.ints([1])], (1,))
    return ctx.node("Mul", [t, ctx.constant("just_below_one", np.array([1 - 2**-24], np.float32))], (1,))


@layer(TFLITE, "HASHTABLE_LOOKUP")
def hashtable_lookup(ctx: TfliteContext) -> None:
    """Inputs: lookups [n] int32, keys [k] int32, values [k, …]. Outputs: the value row of each lookup's
    key (zeros when absent) and hits [n] uint8. Each lookup compared with every key (Equal [n, k]):
    hit where any matches, the row of the first match (ArgMax) gathered."""
    if ctx.need(2).dtype not in ("float32", "uint8", "int8", "int32"):
        raise ctx.error(f"{ctx.need(2).dtype} values: ONNX has no string tensors to gather them into")
    count, keys = ctx.in_shape(0)[0], ctx.in_shape(1)[0]
    row = tuple(ctx.in_shape(2)[1:])
    lookups = ctx.node("Unsqueeze", [ctx.x(0), ctx.ints([1], "axes")], (count, 1), dtype="int32")
    matches = ctx.node("Equal", [lookups, ctx.x(1)], (count, keys), dtype="bool")
    as_bytes = ctx.node("Cast", [matches], (count, keys), {"to": ONNX_TYPES["uint8"]}, dtype="uint8")
    hits = ctx.node("ReduceMax", [as_bytes], (count,), {"axes": [1], "keepdims": 0}, dtype="uint8")
    first = ctx.node("ArgMax", [as_bytes], (count,), {"axis": 1, "keepdims": 0}, dtype="int64")
    rows = ctx.node("Gather", [ctx.moved(2), first], (count, *row), {"axis": 0})
    found = ctx.node("Cast", [hits], (count,), {"to": ONNX_TYPES["bool"]}, dtype="bool")
    if row:
        found = ctx.node("Unsqueeze", [found, ctx.ints(list(range(1, len(row) + 1)), "axes")],
                         (count, *([1] * len(row))), dtype="bool")  # fmt: skip
    zero = ctx.constant("absent", np.zeros((), np.dtype(ctx.compute_dtype())))
    ctx.emit("Where", [found, rows, zero])
    ctx.emit("Identity", [hits], k=1)


@layer(TFLITE, "EMBEDDING_LOOKUP_SPARSE")
def embedding_lookup_sparse(ctx: TfliteContext) -> None:
    """Inputs: ids [n], indices [n, r] (a SparseTensor's, in row-major order), dense shape [r], weights
    [n], params [vocab, …]. Each lookup adds weight · params[id] to the output row its indices name
    (all but the last), in lookup order (ScatterND add, the same order); MEAN divides a row by its
    weights' sum, SQRTN by the root of their squares' sum, where it has any lookup. The kernel
    finalizes a row when its run of lookups ends, so unsorted indices revisiting a row differ."""
    combiner = int(ctx.option("Combiner", 0))
    if combiner not in (0, 1, 2):
        raise ctx.error(f"combiner {combiner} is not SUM, MEAN or SQRTN")
    count, rank = ctx.in_shape(1)
    embedding = tuple(ctx.in_shape(4)[1:])
    dense = ctx.node("Cast", [ctx.x(2)], (rank,), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    indices = ctx.node("Cast", [ctx.x(1)], (count, rank), {"to": ONNX_TYPES["int64"]}, dtype="int64")

    def column(k: int, of: str, shape: tuple) -> str:
        return ctx.node("Gather", [of, ctx.constant("column", np.int64(k))], shape, {"axis": len(shape)},
                        dtype="int64")  # fmt: skip

    row, stride = column(rank - 2, indices, (count,)), None
    for k in range(rank - 3, -1, -1):  # row-major position over the dense shape less its last axis
        size = column(k + 1, dense, ())
        stride = size if stride is None else ctx.node("Mul", [stride, size], (), dtype="int64")
        term = ctx.node("Mul", [column(k, indices, (count,)), stride], (count,), dtype="int64")
        row = ctx.node("Add", [row, term], (count,), dtype="int64")
    leading = ctx.node("Slice", [dense, ctx.ints([0], "start"), ctx.ints([rank - 1], "end")], (rank - 1,),
                       dtype="int64")  # fmt: skip
    rows = ctx.node("ReduceProd", [leading], (1,), {"keepdims": 1}, dtype="int64")
    places = ctx.node("Unsqueeze", [row, ctx.ints([1], "axes")], (count, 1), dtype="int64")
    weights = ctx.x(3)
    zero = ctx.constant("zero", np.float32(0))

    def scattered(values: str, row_shape: tuple) -> str:
        """`values` [n, …] added, in order, into zeros of [rows, …] at each lookup's row."""
        size = ctx.node("Concat", [rows, ctx.ints(list(row_shape), "row_shape")], (1 + len(row_shape),),
                        {"axis": 0}, dtype="int64") if row_shape else rows  # fmt: skip
        base = ctx.node("Expand", [zero, size], (None, *row_shape))
        return ctx.node("ScatterND", [base, places, values], (None, *row_shape), {"reduction": "add"})

    def per_row(value: str) -> str:
        axes = ctx.ints(list(range(1, len(embedding) + 1)), "axes")
        return ctx.node("Unsqueeze", [value, axes], (None, *([1] * len(embedding))))

    picked = ctx.node("Gather", [ctx.moved(4), ctx.x(0)], (count, *embedding), {"axis": 0})
    weighted = ctx.node("Mul", [picked, per_row(weights)], (count, *embedding))
    total = scattered(weighted, embedding)
    if combiner:
        squares = ctx.node("Mul", [weights, weights], (count,)) if combiner == 2 else weights
        divisor = scattered(squares, ())
        divisor = ctx.node("Sqrt", [divisor], (None,)) if combiner == 2 else divisor
        one = ctx.constant("one", np.float32(1))
        lookups = scattered(ctx.node("Expand", [one, ctx.ints([count])], (count,)), ())
        used = ctx.node("Greater", [lookups, zero], (None,), dtype="bool")
        divisor = ctx.node("Where", [used, divisor, one], (None,))
        total = ctx.node("Div", [total, per_row(divisor)], (None, *embedding))
    out_shape = ctx.node("Concat", [leading, ctx.ints(list(embedding), "embedding")],
                         (rank - 1 + len(embedding),), {"axis": 0}, dtype="int64")  # fmt: skip
    name = ("SUM", "MEAN", "SQRTN")[combiner]
    ctx.step("split", f"EMBEDDING_LOOKUP_SPARSE ({name}) as ScatterND add of the weighted rows into zeros, "
                      "then the combiner's division where a row has lookups")  # fmt: skip
    ctx.emit("Reshape", [total, out_shape])
