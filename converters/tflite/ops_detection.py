"""TFLite_Detection_PostProcess, the SSD custom op (tensorflow/lite/kernels/detection_postprocess.cc):
box decoding against anchors, then non-maximum suppression, as ONNX NonMaxSuppression and Gathers.

Inputs: box encodings [1, N, 4] (ty, tx, th, tw), class scores [1, N, classes (+ background)],
anchors [N, 4] (ycenter, xcenter, h, w). Outputs: boxes [1, D, 4] (ymin, xmin, ymax, xmax), classes
[1, D], scores [1, D], number of detections [1], D = max_detections. Both modes are converted:
- fast (the default, what the Object Detection API exports): each box scored by its best class, one
  class-agnostic NMS keeping at most D boxes;
- regular (`use_regular_nms`): one NMS per class keeping at most `detections_per_class` boxes, then
  the D best of all classes' survivors by score.
Rows past the number of detections are zeros (the regular kernel writes zeros to row D, leaving the
rest unwritten: its outputs have D · max_classes_per_detection rows; the fast one leaves them
unwritten).

LiteRT orders each NMS's candidates by a stable sort (equal scores: lower anchor first) and keeps
scores ≥ the threshold; ONNX NonMaxSuppression keeps scores above it and leaves the order of equal
scores to the runtime. So NonMaxSuppression is given ranks instead of scores: each candidate's place
in a TopK order (ONNX TopK breaks ties by lower index), N for the best down to 1, and 0 below the
threshold — distinct, so every runtime orders them alike, and compared with 0.5. The scores reported
are gathered from the input.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


@layer(TFLITE, "CUSTOM:TFLite_Detection_PostProcess")
def detection_postprocess(ctx: TfliteContext) -> None:
    _n, boxes_count, _four = ctx.in_shape(0)
    with_background = ctx.in_shape(1)[2]
    classes = int(ctx.option("num_classes", with_background))
    detections = int(ctx.option("max_detections", 10))
    regular = bool(ctx.option("use_regular_nms", False))
    per_box = int(ctx.option("max_classes_per_detection", 1))
    if not regular and not 0 < per_box <= classes:  # regular NMS ignores it
        raise ctx.error(f"max_classes_per_detection {per_box} with {classes} classes: the kernel leaves rows "
                        "unwritten between detections")  # fmt: skip
    per_class = int(ctx.option("detections_per_class", 100))
    if regular and per_class <= 0:
        raise ctx.error(f"detections_per_class must be positive (it is {per_class})")
    boxes = _decode(ctx, boxes_count)
    scores = ctx.x(1)
    offset = with_background - classes
    if offset:
        scores = ctx.node("Slice", [scores, ctx.ints([offset]), ctx.ints([with_background]), ctx.ints([2])],
                          (1, boxes_count, classes))  # fmt: skip
    threshold = float(ctx.option("nms_score_threshold", 0.0))
    iou = float(ctx.option("nms_iou_threshold", 0.5))
    if regular:
        chosen, picked_labels, picked_scores, kept = _regular(ctx, boxes, scores, per_class, detections)
        written = kept
        ctx.step("split", f"decoded boxes, NonMaxSuppression per class of {classes} (IoU > {iou:g} "
                          f"suppressed, score ≥ {threshold:g}, at most {per_class} each), the {detections} "
                          f"best of all classes by score (TopK), padded with zeros")  # fmt: skip
    else:
        chosen, picked_labels, picked_scores, kept = _fast(ctx, boxes, scores, detections, per_box)
        written = ctx.node("Mul", [kept, ctx.ints([per_box], "per_box")], (1,), dtype="int64")
        ctx.step("split", f"decoded boxes, best of {classes} classes per box, NonMaxSuppression (IoU > "
                          f"{iou:g} suppressed, score ≥ {threshold:g}), at most {detections} detections "
                          f"({per_box} class(es) each) padded with zeros")  # fmt: skip
    flat_boxes = ctx.node("Squeeze", [boxes, ctx.ints([0], "axes")], (boxes_count, 4))
    picked_boxes = ctx.node("Gather", [flat_boxes, chosen], (None, 4), {"axis": 0})
    as_float = ctx.node("Cast", [picked_labels], (None,), {"to": ONNX_TYPES["float32"]})
    # the kernel sizes its outputs max_detections · max_classes_per_detection rows, whichever NMS runs
    rows = detections * max(per_box, 1)
    padding = ctx.node("Sub", [ctx.ints([rows], "output_rows"), written], (1,), dtype="int64")
    zeros = ctx.ints([0], "zero")
    rows_pad = ctx.node("Concat", [zeros, zeros, padding, zeros], (4,), {"axis": 0}, dtype="int64")
    vector_pad = ctx.node("Concat", [zeros, padding], (2,), {"axis": 0}, dtype="int64")
    results = [
        (picked_boxes, rows_pad, (rows, 4)),
        (as_float, vector_pad, (rows,)),
        (picked_scores, vector_pad, (rows,)),
    ]
    for k, (value, pads, shape) in enumerate(results):
        padded = ctx.node("Pad", [value, pads], shape)
        ctx.node("Unsqueeze", [padded, ctx.ints([0], "axes")], (1, *shape), output=ctx.outputs[k])
    ctx.node("Cast", [kept], (1,), {"to": ONNX_TYPES["float32"]}, output=ctx.outputs[3])


Picked = tuple[str, str, str, str]
"""Anchor of each output row, its class (int64) and score, and how many detections ([1], int64)."""


def _fast(ctx: TfliteContext, boxes: str, scores: str, detections: int, per_box: int) -> Picked:
    """Each box scored by its best class, one class-agnostic NMS keeping at most `detections` (already
    best first); each kept box reported with its `per_box` best classes, best first (one: ArgMax, the
    first of equal scores as LiteRT's ArgMaxVector; more: TopK, equal scores lower class first, where
    the kernel's partial sort leaves their order unspecified)."""
    count = ctx.in_shape(0)[1]
    if per_box == 1:
        best = ctx.node("ReduceMax", [scores], (1, count, 1), {"axes": [2], "keepdims": 1})
        label = ctx.node("ArgMax", [scores], (1, count, 1), {"axis": 2, "keepdims": 1}, dtype="int64")
    else:
        best, label = ctx.node_multi("TopK", [scores, ctx.ints([per_box], "per_box")],
                                     [((1, count, per_box), "float32"), ((1, count, per_box), "int64")],
                                     {"axis": 2, "largest": 1, "sorted": 1})  # fmt: skip
    top = ctx.node("Gather", [best, ctx.constant("first", np.int64(0))], (1, count), {"axis": 2})
    ranked = ctx.node("Unsqueeze", [top, ctx.ints([1], "axes")], (1, 1, count))
    selected = _column(ctx, _suppress(ctx, boxes, ranked, 1, count, detections), 2)
    kept = ctx.node("Shape", [selected], (1,), dtype="int64")

    def rows_of(value: str, dtype: str) -> str:
        per = ctx.node("Squeeze", [value, ctx.ints([0], "axes")], (count, per_box), dtype=dtype)
        picked = ctx.node("Gather", [per, selected], (None, per_box), {"axis": 0}, dtype=dtype)
        return ctx.node("Reshape", [picked, ctx.ints([-1])], (None,), dtype=dtype)

    column = ctx.node("Unsqueeze", [selected, ctx.ints([1], "axes")], (None, 1), dtype="int64")
    anchors = ctx.node(
        "Expand", [column, ctx.ints([1, per_box], "per_box_shape")], (None, per_box), dtype="int64"
    )
    chosen = ctx.node("Reshape", [anchors, ctx.ints([-1])], (None,), dtype="int64")
    return chosen, rows_of(label, "int64"), rows_of(best, "float32"), kept


def _regular(ctx: TfliteContext, boxes: str, scores: str, per_class: int, detections: int) -> Picked:
    """One NMS per class (at most `per_class` each), then the `detections` best survivors of all
    classes by score. LiteRT merges class by class with std::partial_sort, which leaves the order of
    equal scores unspecified; TopK here puts the lower class first, then the lower anchor."""
    _one, count, _four = ctx.in_shape(0)
    classes = int(ctx.option("num_classes", ctx.in_shape(1)[2]))
    by_class = ctx.node("Transpose", [scores], (1, classes, count), {"perm": [0, 2, 1]})
    selected = _suppress(ctx, boxes, by_class, classes, count, per_class)
    label, anchor = _column(ctx, selected, 1), _column(ctx, selected, 2)
    times = ctx.node("Mul", [anchor, ctx.ints([classes], "classes")], (None,), dtype="int64")
    flat = ctx.node("Add", [times, label], (None,), dtype="int64")
    every = ctx.node("Reshape", [scores, ctx.ints([count * classes])], (count * classes,))
    survivors = ctx.node("Gather", [every, flat], (None,), {"axis": 0})
    total = ctx.node("Shape", [survivors], (1,), dtype="int64")
    kept = ctx.node("Min", [total, ctx.ints([detections], "max_detections")], (1,), dtype="int64")
    picked_scores, order = ctx.node_multi(
        "TopK", [survivors, kept], [((None,), "float32"), ((None,), "int64")],
        {"axis": 0, "largest": 1, "sorted": 1},
    )  # fmt: skip
    chosen = ctx.node("Gather", [anchor, order], (None,), {"axis": 0}, dtype="int64")
    picked_labels = ctx.node("Gather", [label, order], (None,), {"axis": 0}, dtype="int64")
    return chosen, picked_labels, picked_scores, kept


def _column(ctx: TfliteContext, selected: str, k: int) -> str:
    """Column k of NonMaxSuppression's [K, 3] (batch, class, anchor) selection."""
    column = ctx.constant("column", np.int64(k))
    return ctx.node("Gather", [selected, column], (None,), {"axis": 1}, dtype="int64")


def _suppress(ctx: TfliteContext, boxes: str, scores: str, classes: int, count: int, most: int) -> str:
    """NonMaxSuppression of `boxes` [1, N, 4] under each class's row of `scores` [1, classes, N], as
    LiteRT's NonMaxSuppressionSingleClassHelper: candidates in stable descending order of score, those
    ≥ the threshold, IoU > the IoU threshold suppressed, at most `most` per class. Returns the selected
    [K, 3] (0, class, anchor), class by class, best first within each."""
    shape = (1, classes, count)
    values, order = ctx.node_multi("TopK", [scores, ctx.ints([count], "anchors")],
                                   [(shape, "float32"), (shape, "int64")],
                                   {"axis": 2, "largest": 1, "sorted": 1})  # fmt: skip
    above = ctx.node("GreaterOrEqual", [values, ctx.constant("score_threshold", np.float32(
        ctx.option("nms_score_threshold", 0.0)))], shape, dtype="bool")  # fmt: skip
    places = ctx.constant("ranks", np.arange(count, 0, -1, dtype=np.float32))
    ranked = ctx.node("Where", [above, places, ctx.constant("zero_rank", np.float32(0.0))], shape)
    # `order` is a permutation of each row: every place is written once, so the data given is overwritten
    ranks = ctx.node("ScatterElements", [ranked, order, ranked], shape, {"axis": 2})
    return ctx.node(
        "NonMaxSuppression",
        [boxes, ranks, ctx.ints([most], "max_per_class"),
         ctx.constant("iou_threshold", np.float32(ctx.option("nms_iou_threshold", 0.5))),
         ctx.constant("rank_threshold", np.array([0.5], np.float32))],
        (None, 3), dtype="int64",
    )  # fmt: skip


def _decode(ctx: TfliteContext, count: int) -> str:
    """Centre-size encodings → corners [1, N, 4] (ymin, xmin, ymax, xmax), as DecodeCenterSizeBoxes."""
    parts = ctx.node_multi("Split", [ctx.x(0), ctx.ints([1, 1, 1, 1], "split")],
                           [((1, count, 1), "float32")] * 4, {"axis": 2})  # fmt: skip
    anchors = ctx.node_multi("Split", [ctx.x(2), ctx.ints([1, 1, 1, 1], "split")],
                             [((count, 1), "float32")] * 4, {"axis": 1})  # fmt: skip
    shape = (1, count, 1)

    def scale(key: str) -> str:
        return ctx.constant(key, np.float32(ctx.option(key, 1.0)))

    def centre(code: str, key: str, size: str, middle: str) -> str:
        moved = ctx.node("Mul", [ctx.node("Div", [code, scale(key)], shape), size], shape)
        return ctx.node("Add", [moved, middle], shape)

    def half(code: str, key: str, size: str) -> str:
        grown = ctx.node("Exp", [ctx.node("Div", [code, scale(key)], shape)], shape)
        return ctx.node("Mul", [ctx.node("Mul", [grown, size], shape), ctx.constant("half", np.float32(0.5))],
                        shape)  # fmt: skip

    y = centre(parts[0], "y_scale", anchors[2], anchors[0])
    x = centre(parts[1], "x_scale", anchors[3], anchors[1])
    h = half(parts[2], "h_scale", anchors[2])
    w = half(parts[3], "w_scale", anchors[3])
    corners = [ctx.node("Sub", [y, h], shape), ctx.node("Sub", [x, w], shape),
               ctx.node("Add", [y, h], shape), ctx.node("Add", [x, w], shape)]  # fmt: skip
    return ctx.node("Concat", corners, (1, count, 4), {"axis": 2})
