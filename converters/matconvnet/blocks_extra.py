"""MatConvNet's less common inference blocks and the community layers published models rely on.

MatConvNet's own (matlab/vl_nn*.m, matlab/+dagnn/*.m, beta25):
- `noffset` / dagnn.NormOffset (vl_nnnoffset): y = x - p1 · L^p2, L = max(Σ_channels x², 1e-8).
- `spnorm` / dagnn.SpatialNorm (vl_nnspnorm): y = x · (1 + α · avgpool_{PH×PW}(x²))^-β, the pool
  padded [floor((P-1)/2), P-1-that] and its average leaving the padding out.
- `pdist` / dagnn.PDist (vl_nnpdist) with `aggregate` false: the per-pixel p-distance between x
  and a target x0, (Σ_channels |d|^p)^(1/p) (no root with `noRoot`), d = x - x0, 0 where x0 is NaN,
  0 where |d| < hinge, d / (x0 + (x0 == 0)) when `normed`. With `aggregate` true (DagNN's
  default) the block sums everything into one training objective and is dropped as a loss.
- dagnn.AffineGridGenerator / dagnn.UniformScalingGridGenerator: 1×1×6×N (or 1×1×3×N)
  transforms → 2×Ho×Wo×N sampling grids in [-1, 1], grid(1) the row coordinate, grid(2) the
  column; dagnn.BilinearSampler (vl_nnbilinearsampler): samples x at those points, bilinear, zero
  outside, which is ONNX GridSample with align_corners=1 and zero padding.
  A 2×Ho×Wo×N grid is, read as MatConvNet data (H×W×C×N), an NCHW value N×Wo×2×Ho; the grid
  blocks write it that way, and the sampler transposes it to GridSample's N×Ho×Wo×[x, y].

Community layers (FFDNet and FDnCNN, cszn/FFDNet: utilities/vl_nnSubP.m and the `concat` case its
vl_simplenn adds):
- `SubP` with scale 1/s: y(:,:,c·s²+i) = x(a:s:end, b:s:end, c) for i-1 = a + s·b (a, b 0-based
  row and column offsets); with scale s > 1 the inverse. Written as SpaceToDepth / DepthToSpace
  (row-major block order) and a constant channel Gather into FFDNet's order.
- `concat`: appends the noise level map: the global `sigmas` (one value per image in the authors'
  demos, gray and colour alike, or a full map) broadcast to the feature map's size, as many
  channels as sigmas has values (the reader reads that count off the first conv's depth). It
  becomes the graph input NOISE_LEVEL_INPUT, on the [0, 1] scale FFDNet's demos use (σ/255 for
  8-bit images).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.converters.matconvnet.layers import (
    MatconvnetContext,
    Shape,
    _channels,
    _int,
    _matlab_to_nchw,
    _one_input,
    layer,
)
from netinspect.converters.matconvnet.matfile import MatArray, MatStruct
from netinspect.dtypes import elem_type
from netinspect.ir import Dim

NOISE_LEVEL_INPUT = "noise_level"
NOISE_LEVEL_DOC = (
    f"input {NOISE_LEVEL_INPUT!r}: FFDNet's noise level σ on the [0, 1] scale its demos use (σ/255 for "
    "8-bit images), one value per image as in the authors' demos (gray and colour), shape N×K×1×1 "
    "with K the noise map's channels (a per-pixel map N×K×H/2×W/2 is also accepted)"
)


def _scaled(d: Dim, numerator: int, denominator: int) -> Dim:
    if isinstance(d, int):
        return d * numerator // denominator
    return None


def _i64(ctx: MatconvnetContext, hint: str, values: list[int]) -> str:
    return ctx.constant(hint, np.array(values, np.int64))


# ------------------------------------------------------------------------------------ community


@layer("SubP")
def convert_subp(ctx: MatconvnetContext) -> None:
    x, (n, c, h, w) = _one_input(ctx)
    scale = ctx.number("scale", 2.0)
    if scale <= 0:
        raise ctx.error(f"scale must be positive, is {scale}")
    if scale < 1:
        s = round(1 / scale)
        if not isinstance(c, int):
            raise ctx.error("the input's channel count is unknown")
        for d, axis in ((h, "height"), (w, "width")):
            if isinstance(d, int) and d % s:
                raise ctx.error(
                    f"input {axis} {d} is not a multiple of {s} (FFDNet pads images to even sizes)"
                )
        # SpaceToDepth puts offset (a, b) of channel k at (a·s + b)·C + k; FFDNet wants k·s² + a + s·b.
        order = [(a * s + b) * c + k for k in range(c) for b in range(s) for a in range(s)]
        ctx.step(
            "split",
            f"FFDNet vl_nnSubP scale 1/{s}: pixel unshuffle, channel k·{s * s} + a + {s}·b ← rows a::{s}, "
            f"columns b::{s} (SpaceToDepth, then a channel Gather into FFDNet's order)",
        )
        blocks = ctx.node(
            "SpaceToDepth", [x], (n, c * s * s, _scaled(h, 1, s), _scaled(w, 1, s)), {"blocksize": s}
        )
        ctx.node(
            "Gather", [blocks, _i64(ctx, "order", order)], (n, c * s * s, _scaled(h, 1, s), _scaled(w, 1, s)),
            {"axis": 1}, output=ctx.outputs[0],
        )  # fmt: skip
        return
    s = round(scale)
    if not isinstance(c, int) or c % (s * s):
        raise ctx.error(f"input channels {c} are not a multiple of scale² = {s * s}")
    out_c = c // (s * s)
    # DepthToSpace (DCR) reads offset (a, b) of output channel k from (a·s + b)·C' + k.
    order = [k * s * s + a + s * b for a in range(s) for b in range(s) for k in range(out_c)]
    ctx.step(
        "split",
        f"FFDNet vl_nnSubP scale {s}: pixel shuffle, rows a::{s}, columns b::{s} of channel k ← channel "
        f"k·{s * s} + a + {s}·b (a channel Gather, then DepthToSpace DCR)",
    )
    gathered = ctx.node("Gather", [x, _i64(ctx, "order", order)], (n, c, h, w), {"axis": 1})
    ctx.node(
        "DepthToSpace", [gathered], (n, out_c, _scaled(h, s, 1), _scaled(w, s, 1)),
        {"blocksize": s, "mode": "DCR"}, output=ctx.outputs[0],
    )  # fmt: skip


@layer("concat")
def convert_noise_concat(ctx: MatconvnetContext) -> None:
    x, (n, c, h, w) = _one_input(ctx)
    levels = ctx.noise_levels
    if levels is None:
        raise ctx.error(
            "FFDNet's noise level map: its channel count (the first conv's depth less the image's "
            "channels) is unknown; give the image's with --input-shape"
        )
    sigma = ctx.add_input(NOISE_LEVEL_INPUT, ("N", levels, 1, 1))
    ctx.note(NOISE_LEVEL_DOC)
    ctx.step(
        "param",
        f"FFDNet concat: the noise level map (global sigmas, here the graph input {sigma!r}, [0, 1] scale) "
        "broadcast to the feature map's size and appended as channels",
    )
    size = ctx.node("Shape", [x], (4,), dtype="int64")
    spatial = ctx.node("Slice", [size, _i64(ctx, "from", [2]), _i64(ctx, "to", [4])], (2,), dtype="int64")
    target = ctx.node("Concat", [_i64(ctx, "ones", [1, 1]), spatial], (4,), {"axis": 0}, dtype="int64")
    level_map = ctx.node("Expand", [sigma, target], (n, levels, h, w))
    out_c = c + levels if isinstance(c, int) else None
    ctx.node("Concat", [x, level_map], (n, out_c, h, w), {"axis": 1}, output=ctx.outputs[0])


# ------------------------------------------------------------------------------ normalizations


def _param(ctx: MatconvnetContext, count: int, default: list[float] | None = None) -> list[float]:
    values = ctx.numbers("param", default)
    if len(values) != count:
        raise ctx.error(f"param should hold {count} values, holds {len(values)}")
    return values


def _scalar(ctx: MatconvnetContext, hint: str, value: float) -> str:
    return ctx.constant(hint, np.array(value, np.float32))


@layer("noffset", "dagnn.NormOffset")
def convert_noffset(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    weight, power = _param(ctx, 2, [1.0, 0.5])
    ctx.step("param", f"vl_nnnoffset param [{weight:g} {power:g}]: x - {weight:g}·max(Σc x², 1e-8)^{power:g}")
    reduced = (shape[0], 1, *shape[2:])
    square = ctx.node("Mul", [x, x], shape)
    total = ctx.node("ReduceSum", [square, _i64(ctx, "channels", [1])], reduced, {"keepdims": 1})
    floor = ctx.node("Max", [total, _scalar(ctx, "floor", 1e-8)], reduced)
    powered = ctx.node("Pow", [floor, _scalar(ctx, "power", power)], reduced)
    offset = ctx.node("Mul", [powered, _scalar(ctx, "weight", weight)], reduced)
    ctx.node("Sub", [x, offset], shape, output=ctx.outputs[0])


@layer("spnorm", "dagnn.SpatialNorm")
def convert_spnorm(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    ph, pw, alpha, beta = _param(ctx, 4)
    size = [_int(ph, "PH", ctx), _int(pw, "PW", ctx)]
    if min(size) < 1:
        raise ctx.error("the normalization window must be at least 1×1")
    before = [(p - 1) // 2 for p in size]
    pads = [before[0], before[1], size[0] - 1 - before[0], size[1] - 1 - before[1]]
    ctx.step(
        "param",
        f"vl_nnspnorm [{ph:g} {pw:g} {alpha:g} {beta:g}]: x·(1 + α·avg{size[0]}×{size[1]}(x²))^-β, "
        f"average over the window inside the image (pads {pads}, count_include_pad=0)",
    )
    square = ctx.node("Mul", [x, x], shape)
    attrs: dict[str, Any] = {"kernel_shape": size, "pads": pads, "strides": [1, 1], "count_include_pad": 0}
    mean = ctx.node("AveragePool", [square], shape, attrs)
    scaled = ctx.node("Mul", [mean, _scalar(ctx, "alpha", alpha)], shape)
    base = ctx.node("Add", [scaled, _scalar(ctx, "one", 1.0)], shape)
    factor = ctx.node("Pow", [base, _scalar(ctx, "minus_beta", -beta)], shape)
    ctx.node("Mul", [x, factor], shape, output=ctx.outputs[0])


# ---------------------------------------------------------------------------------------- pdist


def is_aggregating_pdist(fields: MatStruct | None) -> bool:
    """pdist / dagnn.PDist sum to one number (a training objective) unless `aggregate` is false
    (dagnn.PDist's default is true; vl_simplenn reads the field, which vl_simplenn_tidy fills)."""
    value = fields.get("aggregate") if fields is not None and fields.elements else None
    numbers = value.values() if isinstance(value, MatArray) and value.size else None
    return not numbers or bool(numbers[0])


@layer("pdist", "dagnn.PDist")
def convert_pdist(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    p = ctx.number("p", 2.0)
    no_root = bool(ctx.number("noRoot", 0.0))
    hinge = ctx.number("hinge", 0.0) if ctx.has("hinge") else 0.0
    normed = bool(ctx.number("normed", 0.0)) if ctx.has("normed") else False
    if p <= 0:
        raise ctx.error(f"p must be positive, is {p}")
    if len(ctx.inputs) > 1:
        target = ctx.inputs[1]
    elif ctx.has("class"):
        stored = ctx.field("class")
        if not isinstance(stored, MatArray):
            raise ctx.error("its target 'class' is not a numeric array")
        target = ctx.constant("target", _matlab_to_nchw(np.asarray(stored.load(), np.float32)))
        ctx.step("layout", "stored target 'class' H×W×C×N → NCHW")
    else:
        target = ctx.add_input(f"{ctx.name}_target", shape)
        ctx.note(f"input {target!r}: the target x0 of pdist layer {ctx.name!r} (vl_nnpdist's X0)")
    ctx.step(
        "param",
        f"vl_nnpdist p={p:g}{' noRoot' if no_root else ''} per pixel (aggregate false): "
        f"(Σc |x - x0|^p){'' if no_root else f'^(1/{p:g})'}, 0 where x0 is NaN",
    )
    difference = ctx.node("Sub", [x, target], shape)
    zero = _scalar(ctx, "zero", 0.0)
    difference = ctx.node("Where", [ctx.node("IsNaN", [target], None, dtype="bool"), zero, difference], shape)
    if hinge:
        small = ctx.node(
            "Less", [ctx.node("Abs", [difference], shape), _scalar(ctx, "hinge", hinge)], shape, dtype="bool"
        )
        difference = ctx.node("Where", [small, zero, difference], shape)
    if normed:
        is_zero = ctx.node(
            "Cast",
            [ctx.node("Equal", [target, zero], None, dtype="bool")],
            None,
            {"to": elem_type("float32")},
        )
        difference = ctx.node("Div", [difference, ctx.node("Add", [target, is_zero], None)], shape)
    reduced: Shape = (shape[0], 1, *shape[2:])
    powered = ctx.node("Pow", [ctx.node("Abs", [difference], shape), _scalar(ctx, "p", p)], shape)
    if no_root:
        ctx.node(
            "ReduceSum",
            [powered, _i64(ctx, "channels", [1])],
            reduced,
            {"keepdims": 1},
            output=ctx.outputs[0],
        )
        return
    total = ctx.node("ReduceSum", [powered, _i64(ctx, "channels", [1])], reduced, {"keepdims": 1})
    ctx.node("Pow", [total, _scalar(ctx, "root", 1.0 / p)], reduced, output=ctx.outputs[0])


# ---------------------------------------------------------------------------- spatial transforms


def _grid_size(ctx: MatconvnetContext) -> tuple[int, int]:
    ho, wo = _int(ctx.number("Ho"), "Ho", ctx), _int(ctx.number("Wo"), "Wo", ctx)
    if ho < 1 or wo < 1:
        raise ctx.error(f"the grid size Ho×Wo = {ho}×{wo} is empty")
    return ho, wo


def _linspace(count: int) -> np.ndarray:
    """MATLAB linspace(-1, 1, count) (count 1 gives [1], as MATLAB does)."""
    return np.linspace(-1.0, 1.0, count) if count > 1 else np.array([1.0])


def _grid_from_transform(ctx: MatconvnetContext, parameters: int, basis: np.ndarray) -> None:
    """Output[n] = Σ_f T[n, f] · basis[f]: the grid, laid out as the NCHW value N×Wo×2×Ho."""
    t, shape = _one_input(ctx)
    if isinstance(shape[1], int) and shape[1] != parameters:
        raise ctx.error(f"expects 1×1×{parameters}×N transforms, the input has {shape[1]} channels")
    ho, wo = basis.shape[3], basis.shape[1]
    flat = ctx.node("Flatten", [t], (shape[0], parameters), {"axis": 1})
    matrix = ctx.constant("basis", basis.reshape(parameters, -1).astype(np.float32))
    product = ctx.node("MatMul", [flat, matrix], (shape[0], wo * 2 * ho))
    ctx.node(
        "Reshape", [product, _i64(ctx, "grid_shape", [-1, wo, 2, ho])], (shape[0], wo, 2, ho),
        output=ctx.outputs[0],
    )  # fmt: skip


@layer("dagnn.AffineGridGenerator")
def convert_affine_grid(ctx: MatconvnetContext) -> None:
    """grid(1) = a1·y + a2·x + a5, grid(2) = a3·y + a4·x + a6 (A = reshape(input, 2, 3) per image),
    y = linspace(-1, 1, Ho)(h), x = linspace(-1, 1, Wo)(w)."""
    ho, wo = _grid_size(ctx)
    y, x = _linspace(ho), _linspace(wo)
    basis = np.zeros((6, wo, 2, ho))
    basis[0, :, 0, :] = y[None, :]
    basis[1, :, 0, :] = x[:, None]
    basis[4, :, 0, :] = 1
    basis[2, :, 1, :] = y[None, :]
    basis[3, :, 1, :] = x[:, None]
    basis[5, :, 1, :] = 1
    ctx.step("param", f"affine grid {ho}×{wo}: a MatMul of the 6 parameters with a constant basis")
    _grid_from_transform(ctx, 6, basis)


@layer("dagnn.UniformScalingGridGenerator")
def convert_scaling_grid(ctx: MatconvnetContext) -> None:
    """grid(1) = s·y + ty, grid(2) = s·x + tx for the input [s ty tx] per image."""
    ho, wo = _grid_size(ctx)
    y, x = _linspace(ho), _linspace(wo)
    basis = np.zeros((3, wo, 2, ho))
    basis[0, :, 0, :] = y[None, :]
    basis[0, :, 1, :] = x[:, None]
    basis[1, :, 0, :] = 1
    basis[2, :, 1, :] = 1
    ctx.step("param", f"uniform scaling grid {ho}×{wo}: a MatMul of [s ty tx] with a constant basis")
    _grid_from_transform(ctx, 3, basis)


@layer("dagnn.BilinearSampler")
def convert_bilinear_sampler(ctx: MatconvnetContext) -> None:
    if len(ctx.inputs) != 2:
        raise ctx.error(f"needs 2 inputs (data, grid), has {len(ctx.inputs)}")
    (x, xs), (grid, gs) = zip(ctx.inputs, ctx.input_shapes, strict=True)
    if isinstance(gs[2], int) and gs[2] != 2:
        raise ctx.error(f"the grid should be 2×Ho×Wo×N, its first dimension is {gs[2]}")
    ho, wo = gs[3], gs[1]
    ctx.step(
        "layout",
        "grid 2×Ho×Wo×N (held as N×Wo×2×Ho) → GridSample's N×Ho×Wo×[x y]; vl_nnbilinearsampler's "
        "(g+1)/2·(size-1) with zeros outside = align_corners=1, padding zeros; one grid per image",
    )
    nhw2 = ctx.node("Transpose", [grid], (gs[0], ho, wo, 2), {"perm": [0, 3, 1, 2]})
    xy = ctx.node("Gather", [nhw2, _i64(ctx, "xy", [1, 0])], (gs[0], ho, wo, 2), {"axis": 3})
    attrs = {"align_corners": 1, "mode": "bilinear", "padding_mode": "zeros"}
    ctx.node("GridSample", [x, xy], (xs[0], _channels(xs), ho, wo), attrs, output=ctx.outputs[0])


# ---------------------------------------------------------------------------------- ROI pooling


def _roi_transform(ctx: MatconvnetContext) -> list[float]:
    """vl_nnroipool's TRANSFORM: a scalar t means [t 0 0 t 0 0]; else the 6 affine coefficients."""
    values = ctx.numbers("transform", [1.0])
    if len(values) == 1:
        return [values[0], 0.0, 0.0, values[0], 0.0, 0.0]
    if len(values) == 6:
        return values
    raise ctx.error(f"transform should hold 1 or 6 values, holds {len(values)}")


@layer("dagnn.ROIPooling")
def convert_roi_pooling(ctx: MatconvnetContext) -> None:
    """vl_nnroipool, method max: ROIs 5×R [image u1 v1 u2 v2] (1-based, u the column), each
    coordinate mapped by the affine `transform`, rounded (Caffe's definition), split into a
    PH×PW grid of floor/ceil bins, empty bins 0 — which is ONNX MaxRoiPool on 0-based
    [image x1 y1 x2 y2] rows with spatial_scale 1, the image index clamped as MatConvNet does."""
    if len(ctx.inputs) != 2:
        raise ctx.error(f"needs 2 inputs (data, rois), has {len(ctx.inputs)}")
    (x, xs), (rois, _) = zip(ctx.inputs, ctx.input_shapes, strict=True)
    method = ctx.text("method", "max") if ctx.has("method") else "max"
    if method != "max":
        raise ctx.error(f"method {method!r}: ONNX has no average ROI pooling (MaxRoiPool only)")
    subdivisions = ctx.numbers("subdivisions", [6, 6])
    if len(subdivisions) not in (1, 2):
        raise ctx.error(f"subdivisions should hold 1 or 2 values, holds {len(subdivisions)}")
    ph, pw = (_int(v, "subdivisions", ctx) for v in (subdivisions * 2)[:2])
    t = _roi_transform(ctx)
    flatten = bool(ctx.number("flatten", 0.0)) if ctx.has("flatten") else False
    ctx.refine(rois, (1, 1, 5, "R"))  # a MATLAB 5×R array, read as H×W×C×N data
    ctx.step(
        "param",
        f"vl_nnroipool max {ph}×{pw}, transform {t}: ROIs 5×R → R×[image-1, transformed coordinates - 1] "
        "for MaxRoiPool (spatial_scale 1), image index clamped to the batch",
    )
    rows = ctx.node(
        "Transpose", [ctx.node("Reshape", [rois, _i64(ctx, "five", [5, -1])], (5, "R"))], ("R", 5)
    )
    # [image u1 v1 u2 v2] @ A + b = [image-1, x1, y1, x2, y2]:
    # x = t0·u + t2·v + t4 - 1, y = t1·u + t3·v + t5 - 1
    a = np.zeros((5, 5), np.float32)
    a[0, 0] = 1
    for first in (1, 3):
        a[first, first], a[first + 1, first] = t[0], t[2]
        a[first, first + 1], a[first + 1, first + 1] = t[1], t[3]
    b = np.array([-1, t[4] - 1, t[5] - 1, t[4] - 1, t[5] - 1], np.float32)
    mapped = ctx.node(
        "Add",
        [ctx.node("MatMul", [rows, ctx.constant("map", a)], ("R", 5)), ctx.constant("shift", b)],
        ("R", 5),
    )
    image = ctx.node(
        "Slice", [mapped, _i64(ctx, "i0", [0]), _i64(ctx, "i1", [1]), _i64(ctx, "ax", [1])], ("R", 1)
    )
    boxes = ctx.node(
        "Slice", [mapped, _i64(ctx, "b0", [1]), _i64(ctx, "b1", [5]), _i64(ctx, "bx", [1])], ("R", 4)
    )
    batch = ctx.node(
        "Gather", [ctx.node("Shape", [x], (4,), dtype="int64"), _i64(ctx, "n", [0])], (1,), dtype="int64"
    )
    last = ctx.node(
        "Cast",
        [ctx.node("Sub", [batch, _i64(ctx, "one", [1])], (1,), dtype="int64")],
        (1,),
        {"to": elem_type("float32")},
    )
    clamped = ctx.node("Min", [ctx.node("Max", [image, _scalar(ctx, "zero", 0.0)], ("R", 1)), last], ("R", 1))
    table = ctx.node("Concat", [clamped, boxes], ("R", 5), {"axis": 1})
    out_c = _channels(xs)
    attrs = {"pooled_shape": [ph, pw], "spatial_scale": 1.0}
    if not flatten:
        ctx.node("MaxRoiPool", [x, table], ("R", out_c, ph, pw), attrs, output=ctx.outputs[0])
        return
    pooled = ctx.node("MaxRoiPool", [x, table], ("R", out_c, ph, pw), attrs)
    ctx.step("layout", "flatten: PH×PW×C per ROI → 1×1×(PH·PW·C), PH fastest as MATLAB's reshape")
    swapped = ctx.node("Transpose", [pooled], ("R", out_c, pw, ph), {"perm": [0, 1, 3, 2]})
    flat = out_c * ph * pw if isinstance(out_c, int) else None
    ctx.node("Reshape", [swapped, _i64(ctx, "flat", [0, -1, 1, 1])], ("R", flat, 1, 1), output=ctx.outputs[0])
