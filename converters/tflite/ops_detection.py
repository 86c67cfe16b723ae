"""TFLite_Detection_PostProcess, the SSD custom op (tensorflow/lite/kernels/detection_postprocess.cc):
box decoding against anchors, then non-maximum suppression, as ONNX NonMaxSuppression and Gathers.

Inputs: box encodings [1, N, 4] (ty, tx, th, tw), class scores [1, N, classes (+ background)],
anchors [N, 4] (ycenter, xcenter, h, w). Outputs: boxes [1, D, 4] (ymin, xmin, ymax, xmax), classes
[1, D], scores [1, D], number of detections [1], D = max_detections. The fast mode (the default and
what the Object Detection API exports) is converted: each box scored by its best class, one
class-agnostic NMS. Rows past the number of detections are zeros here; LiteRT leaves them unwritten.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


@layer(TFLITE, "CUSTOM:TFLite_Detection_PostProcess")
def detection_postprocess(ctx: TfliteContext) -> None:
    if ctx.option("use_regular_nms", False):
        raise ctx.error("regular (per-class) NMS is not supported; the fast mode is")
    if int(ctx.option("max_classes_per_detection", 1)) != 1:
        raise ctx.error("max_classes_per_detection other than 1 is not supported")
    _n, boxes_count, _four = ctx.in_shape(0)
    with_background = ctx.in_shape(1)[2]
    classes = int(ctx.option("num_classes", with_background))
    detections = int(ctx.option("max_detections", 10))
    boxes = _decode(ctx, boxes_count)
    scores = ctx.x(1)
    offset = with_background - classes
    if offset:
        scores = ctx.node("Slice", [scores, ctx.ints([offset]), ctx.ints([with_background]), ctx.ints([2])],
                          (1, boxes_count, classes))  # fmt: skip
    best = ctx.node("ReduceMax", [scores], (1, boxes_count), {"axes": [2], "keepdims": 0})
    label = ctx.node("ArgMax", [scores], (1, boxes_count), {"axis": 2, "keepdims": 0}, dtype="int64")
    threshold = np.float32(ctx.option("nms_score_threshold", 0.0))
    # TFLite keeps scores ≥ the threshold, ONNX NonMaxSuppression those above it: the float just below
    below = np.nextafter(threshold, np.float32(-np.inf), dtype=np.float32)
    selected = ctx.node(
        "NonMaxSuppression",
        [boxes, ctx.node("Unsqueeze", [best, ctx.ints([1], "axes")], (1, 1, boxes_count)),
         ctx.ints([detections], "max_detections"),
         ctx.constant("iou_threshold", np.float32(ctx.option("nms_iou_threshold", 0.5))),
         ctx.constant("score_threshold", np.array([below], np.float32))],
        (None, 3), dtype="int64",
    )  # fmt: skip
    ctx.step("split", f"decoded boxes, best of {classes} classes per box, NonMaxSuppression (IoU > "
                      f"{float(ctx.option('nms_iou_threshold', 0.5)):g} suppressed, score ≥ {threshold:g}), "
                      f"at most {detections} detections padded with zeros")  # fmt: skip
    chosen = ctx.node("Gather", [selected, ctx.constant("box_column", np.int64(2))], (None,), {"axis": 1})
    count = ctx.node("Shape", [chosen], (1,), dtype="int64")
    padding = ctx.node("Sub", [ctx.ints([detections], "max_detections"), count], (1,))
    flat_boxes = ctx.node("Squeeze", [boxes, ctx.ints([0], "axes")], (boxes_count, 4))
    picked_boxes = ctx.node("Gather", [flat_boxes, chosen], (None, 4), {"axis": 0})
    picked_scores = ctx.node("Gather", [ctx.node("Squeeze", [best, ctx.ints([0], "axes")], (boxes_count,)),
                                        chosen], (None,), {"axis": 0})  # fmt: skip
    labels = ctx.node("Squeeze", [label, ctx.ints([0], "axes")], (boxes_count,))
    picked_labels = ctx.node("Cast", [ctx.node("Gather", [labels, chosen], (None,), {"axis": 0})], (None,),
                             {"to": ONNX_TYPES["float32"]})  # fmt: skip
    zeros = ctx.ints([0], "zero")
    rows_pad = ctx.node("Concat", [zeros, zeros, padding, zeros], (4,), {"axis": 0})
    vector_pad = ctx.node("Concat", [zeros, padding], (2,), {"axis": 0})
    results = [
        (picked_boxes, rows_pad, (detections, 4)),
        (picked_labels, vector_pad, (detections,)),
        (picked_scores, vector_pad, (detections,)),
    ]
    for k, (value, pads, shape) in enumerate(results):
        padded = ctx.node("Pad", [value, pads], shape)
        ctx.node("Unsqueeze", [padded, ctx.ints([0], "axes")], (1, *shape), output=ctx.outputs[k])
    ctx.node("Cast", [count], (1,), {"to": ONNX_TYPES["float32"]}, output=ctx.outputs[3])


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
