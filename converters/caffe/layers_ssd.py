"""SSD's layers (weiliu89/caffe, branch ssd: src/caffe/layers/normalize_layer.cpp,
prior_box_layer.cpp): Normalize (L2 over the whole sample or per pixel, then a learned scale) and
PriorBox (anchor boxes, a constant for the given feature map and image size). Permute is in
layers_shape.py.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.caffe.context import CAFFE, CaffeContext
from netinspect.converters.caffe.layers_nn import known
from netinspect.registry import layer


@layer(CAFFE, "Normalize")
def normalize(ctx: CaffeContext) -> None:
    p = ctx.param("norm_param")
    across, shared = bool(p.get("across_spatial", True)), bool(p.get("channel_shared", True))
    eps = float(p.get("eps", 1e-10))
    shape = ctx.shape_of(0)
    if len(shape) < 2:
        raise ctx.error("Normalize needs at least a batch and a channel axis")
    x = ctx.inputs[0]
    squares = ctx.node("Mul", [x, x], shape)
    axes = list(range(1, len(shape))) if across else [1]
    reduced = tuple(1 if i in axes else d for i, d in enumerate(shape))
    total = ctx.node("ReduceSum", [squares, ctx.const("axes", axes, "int64")], reduced, {"keepdims": 1})
    norm = ctx.node("Sqrt", [ctx.node("Add", [total, ctx.const("eps", eps)], reduced)], reduced)
    normalized = ctx.node("Div", [x, norm], shape)
    ctx.step("param", f"L2 norm over {'C, H, W per sample' if across else 'channels per pixel'}, eps {eps:g}")
    if shared:
        scale = ctx.blob_tensor(0, "scale", (1,))
    else:
        channels = ctx.blob_size(0, "scale", shape[1])
        scale = ctx.blob_tensor(0, "scale", (channels, *(1,) * (len(shape) - 2)))
    ctx.node("Mul", [normalized, scale], shape, output=ctx.outputs[0])


def prior_boxes(
    layer_hw: tuple[int, int],
    image_hw: tuple[int, int],
    min_sizes: list[float],
    max_sizes: list[float],
    ratios: list[float],
    flip: bool,
    clip: bool,
    variances: list[float],
    step_hw: tuple[float, float] | None,
    offset: float,
) -> np.ndarray:
    """PriorBoxLayer::Forward_cpu: (1, 2, H·W·priors·4), boxes then variances."""
    aspect = [1.0]
    for ar in ratios:
        if any(abs(ar - a) < 1e-6 for a in aspect):
            continue
        aspect.append(ar)
        if flip:
            aspect.append(1.0 / ar)
    (h, w), (img_h, img_w) = layer_hw, image_hw
    step_h, step_w = step_hw if step_hw else (img_h / h, img_w / w)
    boxes: list[list[float]] = []
    for i in range(h):
        for j in range(w):
            cx, cy = (j + offset) * step_w, (i + offset) * step_h
            for index, size in enumerate(min_sizes):
                sizes = [(size, size)]
                if max_sizes:
                    side = float(np.sqrt(size * max_sizes[index]))
                    sizes.append((side, side))
                sizes += [(size * np.sqrt(ar), size / np.sqrt(ar)) for ar in aspect if abs(ar - 1.0) >= 1e-6]
                for bw, bh in sizes:
                    boxes.append(
                        [
                            (cx - bw / 2) / img_w,
                            (cy - bh / 2) / img_h,
                            (cx + bw / 2) / img_w,
                            (cy + bh / 2) / img_h,
                        ]
                    )
    coords = np.asarray(boxes, np.float32).reshape(-1)
    if clip:
        coords = np.clip(coords, 0.0, 1.0)
    variance = np.tile(np.asarray(variances or [0.1], np.float32), len(boxes) * 4 // max(len(variances), 1))
    if len(variances) == 1:
        variance = np.full(coords.shape, variances[0], np.float32)
    return np.stack([coords, variance.reshape(coords.shape)])[None]


@layer(CAFFE, "PriorBox")
def prior_box(ctx: CaffeContext) -> None:
    p = ctx.param("prior_box_param")
    feature, image = ctx.shape_of(0), ctx.shape_of(1) if len(ctx.inputs) > 1 else ()
    min_sizes = [float(int(v)) for v in p.all("min_size")]  # Caffe keeps sizes as int (min_size_)
    max_sizes = [float(int(v)) for v in p.all("max_size")]
    if not min_sizes or (max_sizes and len(max_sizes) != len(min_sizes)):
        raise ctx.error(f"{len(min_sizes)} min_size and {len(max_sizes)} max_size values")
    if p.has("img_h") or p.has("img_size"):
        image_hw = (int(p.get("img_h", p.get("img_size"))), int(p.get("img_w", p.get("img_size"))))
    elif len(image) == 4 and known(*image[2:]):
        image_hw = (int(image[2]), int(image[3]))  # type: ignore[arg-type]
    else:
        raise ctx.error("needs the image size (a second bottom of known size, or img_size)")
    if len(feature) != 4 or not known(*feature[2:]):
        raise ctx.error("needs the feature map's size")
    step = None
    if p.has("step_h") or p.has("step"):
        step = (float(p.get("step_h", p.get("step"))), float(p.get("step_w", p.get("step"))))
    variances = [float(v) for v in p.all("variance")] or [0.1]
    if len(variances) not in (1, 4):
        raise ctx.error(f"{len(variances)} variance values (1 or 4 expected)")
    priors = prior_boxes(
        (int(feature[2]), int(feature[3])),
        image_hw,
        min_sizes,
        max_sizes,  # type: ignore[arg-type]
        [float(a) for a in p.all("aspect_ratio")],
        bool(p.get("flip", True)),
        bool(p.get("clip", False)),
        variances,
        step,
        float(p.get("offset", 0.5)),
    )
    ctx.step(
        "fold", f"priors computed for a {feature[2]}×{feature[3]} map of a {image_hw[0]}×{image_hw[1]} image"
    )
    ctx.node("Identity", [ctx.const("priors", priors)], priors.shape, output=ctx.outputs[0])


FLT_MAX = 3.4028234663852886e38


@layer(CAFFE, "DetectionOutput")
def detection_output(ctx: CaffeContext) -> None:
    """DetectionOutputLayer::Forward_cpu for one image: boxes decoded from the priors (CENTER_SIZE or
    CORNER), per class (background left out) scores above the confidence threshold cut to the NMS
    top_k and greedily suppressed (IoU > nms_threshold), the best keep_top_k over all classes kept;
    rows [image, label, score, xmin, ymin, xmax, ymax] by label, then by score; nothing kept gives
    one row [0, −1, …, −1]."""
    p = ctx.param("detection_output_param")
    nms = p.sub("nms_param")
    classes = int(p.get("num_classes", 0))
    if classes <= 0:
        raise ctx.error("num_classes is required")
    if not p.get("share_location", True):
        raise ctx.error("share_location: false (one box per class) is not supported")
    code = p.get("code_type", "CORNER")
    if code not in ("CORNER", "CENTER_SIZE"):
        raise ctx.error(f"code_type {code} is not supported")
    if len(ctx.inputs) != 3:
        raise ctx.error("needs three bottoms: locations, confidences, priors")
    loc_shape, prior_shape = ctx.shape_of(0), ctx.shape_of(2)
    if not known(*prior_shape) or len(prior_shape) != 3:
        raise ctx.error("the priors' size must be known")
    priors = int(prior_shape[2]) // 4  # type: ignore[arg-type]
    if loc_shape[0] not in (1, None, "N") and loc_shape[0] != 1:
        raise ctx.error("only one image per batch is supported")
    background = int(p.get("background_label_id", 0))
    threshold = float(p.get("confidence_threshold", -FLT_MAX))
    nms_threshold, top_k = float(nms.get("nms_threshold", 0.3)), int(nms.get("top_k", -1))
    keep_top_k = int(p.get("keep_top_k", -1))
    encoded = bool(p.get("variance_encoded_in_target", False))

    def i64(hint: str, values: list[int]) -> str:
        return ctx.const(hint, values, "int64")

    def part(x: str, start: int, end: int, shape: tuple, dtype: str = "float32") -> str:
        return ctx.node("Slice", [x, i64("s", [start]), i64("e", [end]), i64("a", [-1])], shape, dtype=dtype)

    pairs = (1, priors, 2)
    loc = ctx.node("Reshape", [ctx.inputs[0], i64("loc_shape", [1, priors, 4])], (1, priors, 4))
    prior = ctx.node("Reshape", [ctx.inputs[2], i64("prior_shape", [2, priors, 4])], (2, priors, 4))
    boxes_p = part(ctx.node("Transpose", [prior], (4, priors, 2), {"perm": [2, 1, 0]}), 0, 1, (4, priors, 1))
    boxes_p = ctx.node("Transpose", [boxes_p], (1, priors, 4), {"perm": [2, 1, 0]})
    if encoded:
        var = ctx.const("ones", np.ones((1, priors, 4), np.float32))
    else:
        var_p = part(
            ctx.node("Transpose", [prior], (4, priors, 2), {"perm": [2, 1, 0]}), 1, 2, (4, priors, 1)
        )
        var = ctx.node("Transpose", [var_p], (1, priors, 4), {"perm": [2, 1, 0]})
    scaled = ctx.node("Mul", [loc, var], (1, priors, 4))
    if code == "CORNER":
        boxes = ctx.node("Add", [boxes_p, scaled], (1, priors, 4))
    else:
        p_min, p_max = part(boxes_p, 0, 2, pairs), part(boxes_p, 2, 4, pairs)
        size = ctx.node("Sub", [p_max, p_min], pairs)
        center = ctx.node("Mul", [ctx.node("Add", [p_min, p_max], pairs), ctx.const("half", 0.5)], pairs)
        shift = ctx.node("Mul", [part(scaled, 0, 2, pairs), size], pairs)
        new_center = ctx.node("Add", [shift, center], pairs)
        new_size = ctx.node("Mul", [ctx.node("Exp", [part(scaled, 2, 4, pairs)], pairs), size], pairs)
        half = ctx.node("Mul", [new_size, ctx.const("half2", 0.5)], pairs)
        corners = [ctx.node("Sub", [new_center, half], pairs), ctx.node("Add", [new_center, half], pairs)]
        boxes = ctx.node("Concat", corners, (1, priors, 4), {"axis": -1})
    ctx.step(
        "param", f"{code} decoding of the locations against the priors" + ("" if encoded else " × variance")
    )
    conf = ctx.node("Reshape", [ctx.inputs[1], i64("conf_shape", [1, priors, classes])], (1, priors, classes))
    scores = ctx.node("Transpose", [conf], (1, classes, priors), {"perm": [0, 2, 1]})
    dropped = np.zeros((1, classes, 1), bool)
    if 0 <= background < classes:
        dropped[0, background, 0] = True
    floor = ctx.const("floor", -FLT_MAX)
    scores = ctx.node(
        "Where", [ctx.const("background", dropped, "bool"), floor, scores], (1, classes, priors)
    )
    if 0 < top_k < priors:  # Caffe keeps each class' top_k scores before NMS
        kth = ctx.node_multi(
            "TopK",
            [scores, i64("top_k", [top_k])],
            [((1, classes, top_k), "float32"), ((1, classes, top_k), "int64")],
            {"axis": -1},
        )[0]
        last = part(kth, top_k - 1, top_k, (1, classes, 1))
        below = ctx.node("Less", [scores, last], (1, classes, priors), dtype="bool")
        scores = ctx.node("Where", [below, floor, scores], (1, classes, priors))
        ctx.step("param", f"NMS top_k {top_k}: only each class' {top_k} best scores are candidates")
    selected = ctx.node(
        "NonMaxSuppression",
        [
            boxes,
            scores,
            i64("max_out", [priors]),
            ctx.const("iou", [nms_threshold]),
            ctx.const("score", [threshold]),
        ],
        (None, 3),
        dtype="int64",
    )
    label = part(selected, 1, 2, (None, 1), "int64")
    box_index = ctx.node(
        "Squeeze", [part(selected, 2, 3, (None, 1), "int64"), i64("sq", [1])], (None,), dtype="int64"
    )
    score = ctx.node("GatherND", [scores, selected], (None,))
    box = ctx.node(
        "Gather", [ctx.node("Squeeze", [boxes, i64("sq0", [0])], (priors, 4)), box_index], (None, 4)
    )
    count = ctx.node("Shape", [score], (1,), dtype="int64")
    if keep_top_k > -1:
        count = ctx.node("Min", [count, i64("keep_top_k", [keep_top_k])], (1,), dtype="int64")
        best = ctx.node_multi(
            "TopK", [score, count], [((None,), "float32"), ((None,), "int64")], {"axis": 0}
        )[1]
        label = ctx.node("Gather", [label, best], (None, 1), dtype="int64")
        score = ctx.node("Gather", [score, best], (None,))
        box = ctx.node("Gather", [box, best], (None, 4))
    # label ascending, then score descending (in float64, so the score's digits survive)
    key = ctx.node(
        "Sub",
        [
            ctx.node(
                "Mul",
                [
                    ctx.node("Cast", [label], (None, 1), {"to": 11}, dtype="float64"),
                    ctx.const("big", [4.0], "float64"),
                ],
                (None, 1),
                dtype="float64",
            ),
            ctx.node(
                "Unsqueeze",
                [ctx.node("Cast", [score], (None,), {"to": 11}, dtype="float64"), i64("ax1", [1])],
                (None, 1),
                dtype="float64",
            ),
        ],
        (None, 1),
        dtype="float64",
    )
    key = ctx.node("Squeeze", [key, i64("sq1", [1])], (None,), dtype="float64")
    order = ctx.node_multi(
        "TopK",
        [key, count],
        [((None,), "float64"), ((None,), "int64")],
        {"axis": 0, "largest": 0, "sorted": 1},
    )[1]
    label_f = ctx.node(
        "Cast", [ctx.node("Gather", [label, order], (None, 1), dtype="int64")], (None, 1), {"to": 1}
    )
    score_c = ctx.node("Unsqueeze", [ctx.node("Gather", [score, order], (None,)), i64("ax2", [1])], (None, 1))
    box_o = ctx.node("Gather", [box, order], (None, 4))
    image = ctx.node("Mul", [label_f, ctx.const("zero", 0.0)], (None, 1))
    rows = ctx.node("Concat", [image, label_f, score_c, box_o], (None, 7), {"axis": 1})
    none_kept = ctx.const("none_kept", [[0.0, -1, -1, -1, -1, -1, -1]])
    with_empty = ctx.node("Concat", [rows, none_kept], (None, 7), {"axis": 0})
    at_least_one = ctx.node("Max", [count, i64("one", [1])], (1,), dtype="int64")
    kept = ctx.node("Slice", [with_empty, i64("zero_start", [0]), at_least_one, i64("axis0", [0])], (None, 7))
    ctx.node("Reshape", [kept, i64("out_shape", [1, 1, -1, 7])], (1, 1, None, 7), output=ctx.outputs[0])
