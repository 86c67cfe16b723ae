"""MatConvNet's forward blocks in NumPy, in MatConvNet's own layout (H×W×C×N, float32).

Each function follows the formula MatConvNet documents for the block (doc/blocks.tex and the
help of matlab/vl_nn*.m), checked against what its C++ code does where the two could differ
(matlab/src/bits/*.cu); the notes below say where that mattered. All arrays are H×W×C×N; results
are stored N×H×W×C in memory (a transposed view is returned) so that the next convolution's
im2col reads contiguous channels.

- conv (vl_nnconv): cross-correlation, no kernel flip:
  y(i,j,k) = b(k) + Σ_{u,v,d} f(u,v,d,k) · x(SY·i + DY·u − T, SX·j + DX·v − L, g·D' + d), zero
  outside the image, k in group g = k div (K/G), G = C / D' (consecutive channel blocks). Output
  size floor((H + T + B − ((FH−1)·DY + 1)) / SY) + 1 (im2row_cpu.cpp uses the dilated extent; the
  dilated size formula in the vl_nnconv help text is wrong). Empty filters mean an identity bank.
- convt (vl_nnconvt): the transpose of conv, computed by MatConvNet as conv's data derivative
  (nnconv.cu ConvolutionTransposeForward): every input pixel scatters f(:,:,k,d)·x(i,j,d) to
  output (UY·i + u − T, UX·j + v − L); F is FH×FW×K×D, group g reads input channels
  [g·D/G, (g+1)·D/G) and writes output channels [g·K, (g+1)·K), so the output has K·G channels.
- pool (vl_nnpool, nnpooling.cu): the window is clipped to the image. Max starts at −inf, so
  padding never wins; average divides by the clipped window's area, so padding is not counted.
- normalize/lrn (vl_nnnormalize): y = x · (κ + α Σ_{q∈Q(k)} x_q²)^(−β) with
  Q(k) = [k − floor((N−1)/2), k + ceil((N−1)/2)] clipped to the channels; α is not divided by N.
  We use the exact power. MatConvNet's CPU code uses a polynomial `fast_pow` (nnnormalize.cu,
  VL_NNNORMALIZE_FAST) that is off by up to ~3.3e-3 relative; its GPU code uses powf. So
  MatConvNet-CPU results differ from this reference (and from ONNX LRN) at that level.
- bnorm with moments (vl_nnbnorm, nnbnorm.cu BatchNormForwardWithMoment): y = G/σ · (x − μ) + B;
  the stored σ already includes epsilon, so none is added here.
- relu (vl_nnrelu): y = x · (leak + (1 − leak)·[x > 0]); sigmoid 1 / (1 + e^−x); softmax over
  channels at every pixel after subtracting the channel maximum (vl_nnsoftmax).
- crop (vl_nncrop): drop [T B L R] rows/columns; concat (vl_nnconcat): along a 1-based dim.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Quad = tuple[int, int, int, int]
Pair = tuple[int, int]


class BlockError(ValueError):
    """An input a block cannot take (wrong depth, too small for the filter); the runner names the layer."""


def _hwcn_buffer(h: int, w: int, c: int, n: int, fill: float | None = None) -> np.ndarray:
    """An H×W×C×N array stored N×H×W×C, so `.transpose(3, 0, 1, 2)` is contiguous."""
    shape = (n, h, w, c)
    data = np.empty(shape, np.float32) if fill is None else np.full(shape, fill, np.float32)
    return data.transpose(1, 2, 3, 0)


def _to_hwcn(nhwc: np.ndarray) -> np.ndarray:
    return nhwc.transpose(1, 2, 3, 0)


def _padded(x: np.ndarray, pad: Quad, fill: float) -> np.ndarray:
    h, w, c, n = x.shape
    top, bottom, left, right = pad
    out = _hwcn_buffer(h + top + bottom, w + left + right, c, n, fill)
    out[top : top + h, left : left + w] = x
    return out


def _output_size(size: int, pad_before: int, pad_after: int, extent: int, stride: int, what: str) -> int:
    if size + pad_before + pad_after < extent:
        raise BlockError(
            f"{what} extent {extent} is larger than the padded input ({size}+{pad_before + pad_after})"
        )
    return (size + pad_before + pad_after - extent) // stride + 1


def conv(
    x: np.ndarray, filters: np.ndarray | None, bias: np.ndarray | None, pad: Quad, stride: Pair, dilate: Pair
) -> np.ndarray:
    """vl_nnconv forward: filters FH×FW×D'×K (or None: identity bank), bias K (or None)."""
    h, w, c, n = x.shape
    top, bottom, left, right = pad
    sy, sx = stride
    if filters is None:
        oh = _output_size(h, top, bottom, 1, sy, "filter")
        ow = _output_size(w, left, right, 1, sx, "filter")
        y = np.ascontiguousarray(_padded(x, pad, 0.0)[: (oh - 1) * sy + 1 : sy, : (ow - 1) * sx + 1 : sx])
        return _add_bias(y, bias)
    fh, fw, depth, k = filters.shape
    if c % depth:
        raise BlockError(f"filter depth {depth} does not divide the input depth {c}")
    groups = c // depth
    if k % groups:
        raise BlockError(f"{groups} filter groups do not divide the {k} filters")
    dy, dx = dilate
    oh = _output_size(h, top, bottom, (fh - 1) * dy + 1, sy, "filter")
    ow = _output_size(w, left, right, (fw - 1) * dx + 1, sx, "filter")
    xp = _padded(x, pad, 0.0).transpose(3, 0, 1, 2)  # N×H×W×C, contiguous
    # Patches ordered (C, FW, FH) so that they meet the filters in MATLAB's own column-major order:
    # the F-ordered bank FH×FW×D×K viewed as a (FH·FW·D)×K matrix with order="F" needs no copy.
    cols = np.empty((n, oh, ow, c, fw, fh), np.float32)
    for u in range(fh):
        for v in range(fw):
            cols[:, :, :, :, v, u] = xp[
                :, u * dy : u * dy + (oh - 1) * sy + 1 : sy, v * dx : v * dx + (ow - 1) * sx + 1 : sx, :
            ]
    pixels = n * oh * ow
    matrix = filters.reshape((fh * fw * depth, k), order="F")
    if groups == 1:
        y = cols.reshape(pixels, fh * fw * c) @ matrix
    else:
        per_group = k // groups
        grouped = cols.reshape(pixels, groups, depth * fw * fh).transpose(1, 0, 2)
        weights = matrix.reshape(fh * fw * depth, groups, per_group).transpose(1, 0, 2)
        y = np.matmul(grouped, weights).transpose(1, 0, 2).reshape(pixels, k)
    del cols
    return _add_bias(_to_hwcn(y.reshape(n, oh, ow, k)), bias)


def _add_bias(y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    if bias is None:
        return y
    if bias.size != y.shape[2]:
        raise BlockError(f"{bias.size} biases for {y.shape[2]} output channels")
    y += bias.reshape(1, 1, -1, 1)
    return y


def conv_transpose(
    x: np.ndarray, filters: np.ndarray, bias: np.ndarray | None, upsample: Pair, crop: Quad, groups: int
) -> np.ndarray:
    """vl_nnconvt forward: filters FH×FW×K×D with D the input depth; output has K·groups channels."""
    h, w, c, n = x.shape
    fh, fw, k, depth = filters.shape
    if depth != c:
        raise BlockError(f"filter bank depth {depth} is not the input depth {c}")
    if depth % groups:
        raise BlockError(f"{groups} groups do not divide the filter bank depth {depth}")
    uy, ux = upsample
    top, bottom, left, right = crop
    full_h, full_w = (h - 1) * uy + fh, (w - 1) * ux + fw
    if full_h - top - bottom < 1 or full_w - left - right < 1:
        raise BlockError("the crop leaves an empty output")
    per_group = depth // groups
    xs = x.transpose(3, 0, 1, 2).reshape(n * h * w, groups, per_group).transpose(1, 0, 2)
    weights = filters.reshape(fh, fw, k, groups, per_group).transpose(3, 4, 0, 1, 2)
    weights = weights.reshape(groups, per_group, fh * fw * k)
    cols = np.matmul(xs, weights).reshape(groups, n, h, w, fh, fw, k)
    out = np.zeros((n, full_h, full_w, groups, k), np.float32)
    for u in range(fh):
        for v in range(fw):
            out[:, u : u + (h - 1) * uy + 1 : uy, v : v + (w - 1) * ux + 1 : ux] += cols[
                :, :, :, :, u, v
            ].transpose(1, 2, 3, 0, 4)
    del cols
    out = out.reshape(n, full_h, full_w, groups * k)[:, top : full_h - bottom, left : full_w - right]
    return _add_bias(_to_hwcn(np.ascontiguousarray(out)), bias)


def pool(x: np.ndarray, size: Pair, pad: Quad, stride: Pair, method: str) -> np.ndarray:
    """vl_nnpool forward, 'max' or 'avg', window clipped to the image."""
    h, w, c, n = x.shape
    ph, pw = size
    top, bottom, left, right = pad
    sy, sx = stride
    oh = _output_size(h, top, bottom, ph, sy, "pooling window")
    ow = _output_size(w, left, right, pw, sx, "pooling window")
    maximum = method == "max"
    xp = _padded(x, pad, -np.inf if maximum else 0.0)
    out = None
    for u in range(ph):
        for v in range(pw):
            tap = xp[u : u + (oh - 1) * sy + 1 : sy, v : v + (ow - 1) * sx + 1 : sx]
            if out is None:
                out = _hwcn_buffer(oh, ow, c, n)
                out[...] = tap
            elif maximum:
                np.maximum(out, tap, out=out)
            else:
                out += tap
    assert out is not None
    if not maximum:
        rows = _clipped_counts(h, top, ph, sy, oh)
        columns = _clipped_counts(w, left, pw, sx, ow)
        with np.errstate(divide="ignore", invalid="ignore"):
            out /= np.outer(rows, columns).astype(np.float32)[:, :, None, None]
    return out


def _clipped_counts(size: int, pad_before: int, window: int, stride: int, count: int) -> np.ndarray:
    """How many input pixels each output's window covers along one axis, after clipping."""
    starts = np.arange(count) * stride - pad_before
    return np.minimum(starts + window, size) - np.maximum(starts, 0)


def lrn(x: np.ndarray, depth: int, kappa: float, alpha: float, beta: float) -> np.ndarray:
    """vl_nnnormalize forward with the exact power (see the module docstring)."""
    c = x.shape[2]
    before = (depth - 1) // 2
    after = depth - before - 1
    squares = np.square(x, dtype=np.float64)
    cumulative = np.zeros((*squares.shape[:2], c + 1, *squares.shape[3:]))
    np.cumsum(squares, axis=2, out=cumulative[:, :, 1:])
    channels = np.arange(c)
    upper = np.minimum(channels + after + 1, c)
    lower = np.maximum(channels - before, 0)
    window_sums = cumulative[:, :, upper] - cumulative[:, :, lower]
    return (x * np.power(kappa + alpha * window_sums, -beta)).astype(np.float32)


def batch_norm(
    x: np.ndarray, gain: np.ndarray, bias: np.ndarray, mean: np.ndarray, sigma: np.ndarray
) -> np.ndarray:
    """vl_nnbnorm forward with given moments: G/σ · (x − μ) + B."""
    c = x.shape[2]
    if not gain.size == bias.size == mean.size == sigma.size == c:
        raise BlockError(f"batch-norm parameters have {gain.size} channels, the input {c}")
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficient = (gain / sigma).astype(np.float32).reshape(1, 1, c, 1)
    return coefficient * (x - mean.reshape(1, 1, c, 1)) + bias.reshape(1, 1, c, 1)


def relu(x: np.ndarray, leak: float) -> np.ndarray:
    if leak == 0:
        return np.maximum(x, np.float32(0))
    return x * np.where(x > 0, np.float32(1), np.float32(leak))


def sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def crop(x: np.ndarray, amounts: Quad) -> np.ndarray:
    h, w = x.shape[:2]
    top, bottom, left, right = amounts
    if top + bottom >= h or left + right >= w or min(amounts) < 0:
        raise BlockError(f"cannot crop {list(amounts)} from a {h}×{w} input")
    return x[top : h - bottom, left : w - right]


def concat(xs: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """vl_nnconcat: `dim` is MATLAB's 1-based dimension over H, W, C, N."""
    if not 1 <= dim <= 4:
        raise BlockError(f"cannot concatenate along dimension {dim}")
    shapes = {tuple(s for i, s in enumerate(a.shape) if i != dim - 1) for a in xs}
    if len(shapes) != 1:
        raise BlockError(f"inputs of shapes {[a.shape for a in xs]} differ off dimension {dim}")
    return np.concatenate(xs, axis=dim - 1)


def elementwise_sum(xs: Sequence[np.ndarray]) -> np.ndarray:
    total = xs[0]
    for other in xs[1:]:
        if other.shape != total.shape:
            raise BlockError(f"cannot sum inputs of shapes {xs[0].shape} and {other.shape}")
        total = total + other
    return total if len(xs) > 1 else total.copy()


def scale(x: np.ndarray, factor: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """dagnn.Scale: bsxfun(@times, x, factor) (+ shift), factor and shift broadcast MATLAB-style."""
    try:
        y = x * factor
        return y if shift is None else y + shift
    except ValueError as e:
        raise BlockError(f"cannot broadcast scale of shape {factor.shape} over input {x.shape}") from e


# ------------------------------------------------------------------- less common MatConvNet blocks


def norm_offset(x: np.ndarray, weight: float, power: float) -> np.ndarray:
    """vl_nnnoffset: x - weight · max(Σ_k x², 1e-8)^power (the sum over channels, per pixel)."""
    total = np.maximum(np.sum(np.square(x, dtype=np.float64), axis=2, keepdims=True), 1e-8)
    return (x - weight * np.power(total, power)).astype(np.float32)


def spatial_norm(x: np.ndarray, height: int, width: int, alpha: float, beta: float) -> np.ndarray:
    """vl_nnspnorm: x · (1 + α · n2)^-β, n2 = vl_nnpool(x.², [PH PW], 'avg', pad [⌊(P-1)/2⌋, rest])."""
    top, left = (height - 1) // 2, (width - 1) // 2
    pad = (top, height - 1 - top, left, width - 1 - left)
    n2 = pool(np.square(x), (height, width), pad, (1, 1), "avg")
    return (np.power(1.0 + alpha * n2.astype(np.float64), -beta) * x).astype(np.float32)


def pdist(x: np.ndarray, x0: np.ndarray, p: float, no_root: bool, hinge: float, normed: bool) -> np.ndarray:
    """vl_nnpdist without aggregation: per-pixel p-distance over channels, d(isnan(x0)) = 0."""
    d = (x - x0).astype(np.float64)
    d = np.where(np.broadcast_to(np.isnan(x0), d.shape), 0.0, d)
    d[np.abs(d) < hinge] = 0
    if normed:
        d = d / (x0 + (x0 == 0))
    if p == 1:
        y = np.sum(np.abs(d), axis=2, keepdims=True)
    elif p == 2:
        y = np.sum(d * d, axis=2, keepdims=True)
        y = y if no_root else np.sqrt(y)
    else:
        y = np.sum(np.abs(d) ** p, axis=2, keepdims=True)
        y = y if no_root else y ** (1.0 / p)
    return y.astype(np.float32)


def _matlab_linspace(count: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, count) if count > 1 else np.array([1.0])


def affine_grid(transforms: np.ndarray, ho: int, wo: int) -> np.ndarray:
    """dagnn.AffineGridGenerator.forward, step by step in MATLAB's column-major terms → 2×Ho×Wo×N."""
    n = transforms.shape[3]
    a = transforms.reshape((2, 3, n), order="F").astype(np.float64)
    linear = a[:, 0:2, :].reshape((2, 2 * n), order="F")
    xi, yi = _matlab_linspace(ho), _matlab_linspace(wo)
    yy, xx = np.meshgrid(xi, yi)  # MATLAB meshgrid(xi, yi): Wo×Ho
    xxyy = np.stack([yy.ravel(order="F"), xx.ravel(order="F")], axis=1)  # (Ho·Wo)×2
    shift = a[:, 2, :].reshape((1, 2 * n), order="F")
    g = (xxyy @ linear + shift).reshape((wo, ho, 2, n), order="F")
    return np.ascontiguousarray(g.transpose(2, 1, 0, 3)).astype(np.float32)


def uniform_scaling_grid(transforms: np.ndarray, ho: int, wo: int) -> np.ndarray:
    """dagnn.UniformScalingGridGenerator.forward → 2×Ho×Wo×N."""
    if transforms.shape[:3] != (1, 1, 3):
        raise BlockError(f"transforms have shape {transforms.shape}, expected 1×1×3×N")
    n = transforms.shape[3]
    scale = transforms[0, 0, 0, :].astype(np.float64).reshape(1, 1, n)
    shift = transforms[0, 0, 1:3, :].astype(np.float64).reshape(2, 1, n)
    xi, yi = _matlab_linspace(ho), _matlab_linspace(wo)
    yy, xx = np.meshgrid(yi, xi)  # MATLAB meshgrid(yi, xi): Ho×Wo
    xxyy = np.stack([xx.ravel(order="F"), yy.ravel(order="F")])  # 2×(Ho·Wo)
    g = xxyy[:, :, None] * scale + shift
    return g.reshape((2, ho, wo, n), order="F").astype(np.float32)


def bilinear_sampler(x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """vl_nnbilinearsampler (bilinearsampler_cpu.cpp): grid 2×Ho×Wo×N' of (row, column) in [-1, 1];
    output image n samples input image n // (N'/N); neighbours outside the image count as 0."""
    h, w, c, n = x.shape
    _, ho, wo, count = grid.shape
    if grid.shape[0] != 2 or count % n:
        raise BlockError(f"grid of shape {grid.shape} does not fit an input of shape {x.shape}")
    group = count // n
    out = np.zeros((ho, wo, c, count), np.float32)
    for image in range(count):
        py = 0.5 * (grid[0, :, :, image].astype(np.float32) + 1) * (h - 1)
        px = 0.5 * (grid[1, :, :, image].astype(np.float32) + 1) * (w - 1)
        sy, sx = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
        wy, wx = py - sy, px - sx
        inside = (sy >= -1) & (sy < h) & (sx >= -1) & (sx < w)
        source = x[:, :, :, image // group]
        for i in (0, 1):
            for j in (0, 1):
                yy, xx = sy + i, sx + j
                valid = inside & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                weight = ((1 - j) * (1 - wx) + j * wx) * ((1 - i) * (1 - wy) + i * wy) * valid
                taps = source[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
                out[:, :, :, image] += weight[:, :, None] * taps
    return out


def subp(x: np.ndarray, scale: float) -> np.ndarray:
    """FFDNet's vl_nnSubP forward, index for index: scale < 1 splits, scale > 1 merges."""
    h, w, c, n = x.shape
    if scale < 1:
        s = round(1 / scale)
        if h % s or w % s:
            raise BlockError(f"a {h}×{w} input does not split into {s}×{s} blocks")
        y = np.zeros((h // s, w // s, c * s * s, n), np.float32)
        start = 0
        for channel in range(c):
            for i in range(1, s * s + 1):
                a, b = (i - 1) % s + 1, (i - 1) // s + 1
                y[:, :, start + i - 1, :] = x[a - 1 :: s, b - 1 :: s, channel, :]
            start += s * s
        return y
    s = round(scale)
    if c % (s * s):
        raise BlockError(f"{c} channels do not merge in groups of {s * s}")
    y = np.zeros((h * s, w * s, c // (s * s), n), np.float32)
    start = 0
    for channel in range(c // (s * s)):
        for i in range(1, s * s + 1):
            a, b = (i - 1) % s + 1, (i - 1) // s + 1
            y[a - 1 :: s, b - 1 :: s, channel, :] = x[:, :, start + i - 1, :]
        start += s * s
    return y


def noise_level_concat(x: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """FFDNet's vl_simplenn 'concat': sigmas 1×1×K×N (one level per channel and image, the
    permute(sigmas, [3 4 1 2]) of its K×N global) broadcast to H×W×K×N, or a full map, appended."""
    h, w, _, n = x.shape
    level_map = np.ones((h, w, 1, n), np.float32) * sigmas if sigmas.shape[:2] == (1, 1) else sigmas
    return concat([x, level_map.astype(np.float32)], 3)


def roi_pool(
    x: np.ndarray, rois: np.ndarray, subdivisions: Pair, transform: Sequence[float], method: str
) -> np.ndarray:
    """vl_nnroipool (roipooling_cpu.cpp): ROIs 5×R [image u1 v1 u2 v2], 1-based, u along columns;
    coordinates mapped by the affine transform, rounded half up, bins floor/ceil-split and clipped to
    the image, empty bins 0, max or average over a bin → PH×PW×C×R."""
    h, w, c, n = x.shape
    table = rois.reshape(5, -1, order="F").astype(np.float32)
    ph_count, pw_count = subdivisions
    out = np.zeros((ph_count, pw_count, c, table.shape[1]), np.float32)
    t = [np.float32(v) for v in transform]
    for index in range(table.shape[1]):
        image, u1_, v1_, u2_, v2_ = table[:, index]
        u1, v1 = t[0] * u1_ + t[2] * v1_ + t[4], t[1] * u1_ + t[3] * v1_ + t[5]
        u2, v2 = t[0] * u2_ + t[2] * v2_ + t[4], t[1] * u2_ + t[3] * v2_ + t[5]
        start_h, start_w = int(np.floor(v1 + 0.5)) - 1, int(np.floor(u1 + 0.5)) - 1
        end_h, end_w = int(np.floor(v2 + 0.5)) - 1, int(np.floor(u2 + 0.5)) - 1
        bin_h = np.float32(max(end_h - start_h + 1, 1)) / np.float32(ph_count)
        bin_w = np.float32(max(end_w - start_w + 1, 1)) / np.float32(pw_count)
        source = x[:, :, :, min(max(int(image) - 1, 0), n - 1)]
        for pw in range(pw_count):
            w0 = min(max(int(np.floor(np.float32(pw) * bin_w)) + start_w, 0), w)
            w1 = min(max(int(np.ceil(np.float32(pw + 1) * bin_w)) + start_w, 0), w)
            for ph in range(ph_count):
                h0 = min(max(int(np.floor(np.float32(ph) * bin_h)) + start_h, 0), h)
                h1 = min(max(int(np.ceil(np.float32(ph + 1) * bin_h)) + start_h, 0), h)
                if h1 <= h0 or w1 <= w0:
                    continue
                patch = source[h0:h1, w0:w1]
                out[ph, pw, :, index] = patch.max(axis=(0, 1)) if method == "max" else patch.mean(axis=(0, 1))
    return out
