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
