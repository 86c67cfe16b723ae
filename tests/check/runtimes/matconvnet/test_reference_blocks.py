"""Each MatConvNet block of the reference runtime against an independent computation.

The independent side is written differently on purpose: SciPy's correlate, brute-force loops over
output pixels, or numbers worked out by hand in the comments. Tolerances are stated per test; the
reference computes in float32, the checks in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import correlate

from netinspect.check.runtimes.matconvnet import blocks

RNG = np.random.default_rng(20240601)


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _dilated(kernel: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Insert dy-1 / dx-1 zeros between taps, as vl_nnconv's help describes dilation."""
    fh, fw = kernel.shape
    out = np.zeros(((fh - 1) * dy + 1, (fw - 1) * dx + 1))
    out[::dy, ::dx] = kernel
    return out


def _conv_by_scipy(x, filters, bias, pad, stride, dilate):
    """Zero-pad, correlate each (input channel, filter) pair in float64, subsample, add bias."""
    top, bottom, left, right = pad
    depth, count = filters.shape[2], filters.shape[3]
    groups = x.shape[2] // depth
    per_group = count // groups
    outputs = []
    for n in range(x.shape[3]):
        image = np.pad(x[:, :, :, n].astype(np.float64), ((top, bottom), (left, right), (0, 0)))
        maps = []
        for k in range(count):
            g = k // per_group
            acc = sum(
                correlate(image[:, :, g * depth + d], _dilated(filters[:, :, d, k], *dilate), mode="valid")
                for d in range(depth)
            )
            maps.append(acc[:: stride[0], :: stride[1]] + (0 if bias is None else bias[k]))
        outputs.append(np.stack(maps, axis=2))
    return np.stack(outputs, axis=3)


@pytest.mark.parametrize(
    ("shape", "fshape", "pad", "stride", "dilate"),
    [
        # odd sizes, asymmetric pads, anisotropic stride and dilation, 2 groups
        ((11, 9, 6, 2), (3, 2, 3, 4), (2, 0, 1, 3), (2, 3), (2, 1)),
        # no padding, unit stride, one group, rectangular kernel
        ((7, 8, 3, 1), (2, 4, 3, 5), (0, 0, 0, 0), (1, 1), (1, 1)),
        # a filter covering the whole input (MatConvNet's fully-connected path)
        ((5, 4, 3, 2), (5, 4, 3, 6), (0, 0, 0, 0), (1, 1), (1, 1)),
        # 3 groups, stride larger than the kernel, dilation on x only
        ((10, 13, 6, 1), (2, 3, 2, 6), (1, 2, 0, 1), (3, 2), (1, 3)),
    ],
)
def test_conv_matches_scipy_correlate(shape, fshape, pad, stride, dilate):
    # Gaussian values make every tap distinct, so a flipped or transposed kernel cannot pass.
    x, filters, bias = _random(*shape), _random(*fshape), _random(fshape[3])
    got = blocks.conv(x, filters, bias, pad, stride, dilate)
    want = _conv_by_scipy(x, filters, bias, pad, stride, dilate)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_output_size_uses_the_dilated_extent():
    # (H + T + B - ((FH-1)*D + 1)) / S + 1 = (12 + 1 + 0 - 7) // 2 + 1 = 4 rows; the help text's
    # dilated formula would give a different count.
    y = blocks.conv(_random(12, 6, 1, 1), _random(3, 1, 1, 1), None, (1, 0, 0, 0), (2, 1), (3, 1))
    assert y.shape == (4, 6, 1, 1)


def test_conv_without_filters_pads_subsamples_and_adds_bias():
    # vl_nnconv with F = [] is an identity filter bank: only padding, stride and bias act.
    x = _random(5, 4, 2, 1)
    y = blocks.conv(x, None, np.array([1.0, -2.0], np.float32), (1, 0, 0, 2), (2, 2), (1, 1))
    padded = np.pad(x, ((1, 0), (0, 2), (0, 0), (0, 0)))
    np.testing.assert_array_equal(y, padded[::2, ::2] + np.array([1.0, -2.0], np.float32).reshape(1, 1, 2, 1))


def test_conv_rejects_a_filter_depth_that_divides_no_input_depth():
    with pytest.raises(blocks.BlockError, match="does not divide"):
        blocks.conv(_random(4, 4, 5, 1), _random(1, 1, 2, 4), None, (0, 0, 0, 0), (1, 1), (1, 1))


def _pool_by_loop(x, size, pad, stride, method):
    """Per output pixel: the window's rows and columns clipped to the image, then max or mean."""
    h, w = x.shape[:2]
    oh = (h + pad[0] + pad[1] - size[0]) // stride[0] + 1
    ow = (w + pad[2] + pad[3] - size[1]) // stride[1] + 1
    out = np.empty((oh, ow, *x.shape[2:]))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride[0] - pad[0], j * stride[1] - pad[2]
            window = x[max(r0, 0) : min(r0 + size[0], h), max(c0, 0) : min(c0 + size[1], w)].astype(
                np.float64
            )
            out[i, j] = window.max(axis=(0, 1)) if method == "max" else window.mean(axis=(0, 1))
    return out


@pytest.mark.parametrize("method", ["max", "avg"])
@pytest.mark.parametrize(
    ("shape", "size", "pad", "stride"),
    [((7, 8, 3, 2), (3, 4), (1, 0, 2, 1), (2, 3)), ((9, 5, 2, 1), (2, 2), (0, 1, 1, 0), (1, 2))],
)
def test_pool_matches_a_loop_over_clipped_windows(method, shape, size, pad, stride):
    # Negative inputs make the max test meaningful: a zero-padded max would return 0 at borders.
    x = _random(*shape) - 3
    got = blocks.pool(x, size, pad, stride, method)
    want = _pool_by_loop(x, size, pad, stride, method)
    assert got.shape == want.shape
    if method == "max":
        np.testing.assert_array_equal(got, want)  # a max picks one input value: exact
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_avg_pool_excludes_padding_by_hand():
    # 2×2 input [[1 2];[3 4]], 2×2 window, pad [0 1 0 1], stride 1 → 2×2 output:
    # (1,1) = (1+2+3+4)/4 = 2.5, (1,2) = (2+4)/2 = 3, (2,1) = (3+4)/2 = 3.5, (2,2) = 4/1 = 4.
    x = np.array([[1, 2], [3, 4]], np.float32).reshape(2, 2, 1, 1)
    y = blocks.pool(x, (2, 2), (0, 1, 0, 1), (1, 1), "avg")
    np.testing.assert_array_equal(y[:, :, 0, 0], [[2.5, 3.0], [3.5, 4.0]])


def _lrn_by_loop(x, depth, kappa, alpha, beta):
    c = x.shape[2]
    out = np.empty(x.shape)
    for k in range(c):
        lo, hi = max(0, k - (depth - 1) // 2), min(c - 1, k + depth // 2)  # ceil((N-1)/2) == N // 2
        total = (x[:, :, lo : hi + 1].astype(np.float64) ** 2).sum(axis=2)
        out[:, :, k] = x[:, :, k] / (kappa + alpha * total) ** beta
    return out


@pytest.mark.parametrize(
    ("depth", "kappa", "alpha", "beta"), [(4, 2.0, 0.3, 0.6), (5, 1.0, 2e-5, 0.75), (1, 0.5, 1, 1)]
)
def test_lrn_matches_a_loop_over_channel_windows(depth, kappa, alpha, beta):
    x = _random(3, 4, 7, 2) * 3
    np.testing.assert_allclose(
        blocks.lrn(x, depth, kappa, alpha, beta), _lrn_by_loop(x, depth, kappa, alpha, beta), rtol=1e-6
    )


def test_lrn_by_hand():
    # One pixel, channels [1 2 3], PARAM = [3 1 0.5 1]: Q(k) = [k-1, k+1] clipped, so
    # y1 = 1/(1 + 0.5*(1+4)) = 2/7, y2 = 2/(1 + 0.5*(1+4+9)) = 1/4, y3 = 3/(1 + 0.5*(4+9)) = 2/5.
    y = blocks.lrn(np.array([1, 2, 3], np.float32).reshape(1, 1, 3, 1), 3, 1.0, 0.5, 1.0)
    np.testing.assert_allclose(y.ravel(), [2 / 7, 1 / 4, 2 / 5], rtol=1e-7)


def test_batch_norm_uses_stored_moments_without_epsilon():
    x = _random(4, 3, 5, 2)
    gain, bias = _random(5), _random(5)
    mean, sigma = _random(5), np.abs(_random(5)) + 0.1
    want = gain.reshape(1, 1, 5, 1) * (x - mean.reshape(1, 1, 5, 1)) / sigma.reshape(
        1, 1, 5, 1
    ) + bias.reshape(1, 1, 5, 1)
    np.testing.assert_allclose(blocks.batch_norm(x, gain, bias, mean, sigma), want, rtol=1e-5, atol=1e-6)
    # by hand: G=2, B=1, mu=1, sigma=4, x=3 → 2*(3-1)/4 + 1 = 2 exactly (no epsilon added)
    one = np.array([3], np.float32).reshape(1, 1, 1, 1)
    f = np.float32
    assert blocks.batch_norm(one, f([2]), f([1]), f([1]), f([4])).item() == 2.0


def _convt_by_scatter(x, filters, bias, upsample, crop, groups):
    """Every input pixel adds F(:,:,k,d)·x(i,j,d) at (UY·i + u, UX·j + v) of the uncropped output."""
    h, w, depth, n_images = x.shape
    fh, fw, k_count, _ = filters.shape
    per_group = depth // groups
    full = np.zeros(((h - 1) * upsample[0] + fh, (w - 1) * upsample[1] + fw, k_count * groups, n_images))
    for n in range(n_images):
        for i in range(h):
            for j in range(w):
                for d in range(depth):
                    g = d // per_group
                    for u in range(fh):
                        for v in range(fw):
                            for k in range(k_count):
                                full[i * upsample[0] + u, j * upsample[1] + v, g * k_count + k, n] += float(
                                    filters[u, v, k, d]
                                ) * float(x[i, j, d, n])
    top, bottom, left, right = crop
    out = full[top : full.shape[0] - bottom, left : full.shape[1] - right]
    return out + (0 if bias is None else bias.reshape(1, 1, -1, 1))


@pytest.mark.parametrize(
    ("shape", "fshape", "upsample", "crop", "groups"),
    [
        ((4, 5, 4, 2), (3, 4, 3, 4), (2, 3), (1, 0, 2, 1), 2),
        ((3, 3, 2, 1), (2, 2, 5, 2), (1, 1), (0, 0, 0, 0), 1),
    ],
)
def test_conv_transpose_matches_a_scatter_loop(shape, fshape, upsample, crop, groups):
    x, filters = _random(*shape), _random(*fshape)
    bias = _random(fshape[2] * groups)
    got = blocks.conv_transpose(x, filters, bias, upsample, crop, groups)
    want = _convt_by_scatter(x, filters, bias, upsample, crop, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv_transpose_is_the_adjoint_of_conv():
    # vl_nnconvt's definition: if U = conv(V, F) = M V, then convt(X, F) = M' X, so
    # <conv(V), X> = <V, convt(X)> with stride = upsample and pad = crop (sizes chosen to match).
    filters = _random(3, 2, 4, 5)  # conv: depth 4 → 5 filters; convt: 5 input channels → 4
    v = _random(10, 7, 4, 1)
    u = blocks.conv(v, filters, None, (1, 2, 0, 1), (2, 2), (1, 1))
    x = _random(*u.shape)
    back = blocks.conv_transpose(x, filters, None, (2, 2), (1, 2, 0, 1), 1)
    assert back.shape == v.shape
    np.testing.assert_allclose(
        np.vdot(u.astype(np.float64), x), np.vdot(v.astype(np.float64), back), rtol=1e-5
    )


def test_pointwise_blocks_by_hand():
    x = np.array([-2, 0, 3], np.float32).reshape(1, 1, 3, 1)
    np.testing.assert_array_equal(blocks.relu(x, 0).ravel(), [0, 0, 3])
    np.testing.assert_allclose(blocks.relu(x, 0.1).ravel(), [-0.2, 0, 3], rtol=1e-7)
    np.testing.assert_allclose(blocks.sigmoid(x).ravel(), 1 / (1 + np.exp([2.0, 0.0, -3.0])), rtol=1e-6)
    # softmax over channels of [0, ln 3] is [1/4, 3/4] at every pixel
    s = np.zeros((2, 1, 2, 1), np.float32)
    s[:, :, 1] = np.log(3)
    np.testing.assert_allclose(blocks.softmax(s)[:, 0, :, 0], [[0.25, 0.75], [0.25, 0.75]], rtol=1e-6)


def test_softmax_is_stable_for_large_inputs():
    x = np.array([1000, 1000 + np.log(3)], np.float32).reshape(1, 1, 2, 1)
    np.testing.assert_allclose(blocks.softmax(x).ravel(), [0.25, 0.75], rtol=1e-4)


def test_crop_concat_sum_scale():
    x = _random(5, 6, 2, 1)
    np.testing.assert_array_equal(blocks.crop(x, (1, 2, 0, 3)), x[1:3, 0:3])
    y = _random(5, 6, 3, 1)
    np.testing.assert_array_equal(blocks.concat([x, y], 3), np.concatenate([x, y], axis=2))
    with pytest.raises(blocks.BlockError):
        blocks.concat([x, y], 1)  # depths differ off the concatenated dimension
    np.testing.assert_array_equal(blocks.elementwise_sum([x, x, x]), 3 * x)
    factor, shift = _random(1, 1, 2, 1), _random(1, 1, 2, 1)
    np.testing.assert_allclose(blocks.scale(x, factor, shift), x * factor + shift, rtol=1e-7)


def test_identity_grids_resample_the_image_exactly():
    """dagnn grid generators with the identity transform sample every pixel at its own centre."""
    x = np.random.default_rng(8).standard_normal((5, 7, 3, 2)).astype(np.float32)
    affine = np.tile(np.array([1, 0, 0, 1, 0, 0], np.float32).reshape(1, 1, 6, 1), (1, 1, 1, 2))
    scaling = np.tile(np.array([1, 0, 0], np.float32).reshape(1, 1, 3, 1), (1, 1, 1, 2))
    for grid in (blocks.affine_grid(affine, 5, 7), blocks.uniform_scaling_grid(scaling, 5, 7)):
        assert grid.shape == (2, 5, 7, 2)
        np.testing.assert_allclose(blocks.bilinear_sampler(x, grid), x, atol=1e-5)
    # a shift by one pixel column in normalized units moves the image; the vacated column is zero
    shifted = scaling.copy()
    shifted[0, 0, 2, :] = 2 / 6
    moved = blocks.bilinear_sampler(x, blocks.uniform_scaling_grid(shifted, 5, 7))
    np.testing.assert_allclose(moved[:, :-1], x[:, 1:], atol=1e-5)
    assert not moved[:, -1].any()


def test_norm_offset_spatial_norm_and_pdist_follow_their_formulas():
    x = np.random.default_rng(9).standard_normal((4, 5, 3, 1)).astype(np.float32)
    total = (x.astype(np.float64) ** 2).sum(axis=2, keepdims=True)
    np.testing.assert_allclose(blocks.norm_offset(x, 0.2, 0.5), x - 0.2 * np.sqrt(total), rtol=1e-5)
    # a 1×1 spatial window normalizes every value by its own square
    np.testing.assert_allclose(
        blocks.spatial_norm(x, 1, 1, 0.5, 0.75), x * (1 + 0.5 * x**2) ** -0.75, rtol=1e-5
    )
    x0 = np.zeros_like(x)
    x0[0, 0, 0, 0] = np.nan  # NaN targets do not count
    expected = np.sqrt(total)
    expected[0, 0, 0, 0] = np.sqrt((x[0, 0, 1:, 0].astype(np.float64) ** 2).sum())
    np.testing.assert_allclose(blocks.pdist(x, x0, 2, False, 0, False), expected, rtol=1e-5)


def test_subp_splits_and_merges_as_ffdnet_indexes():
    x = np.arange(4 * 6 * 2, dtype=np.float32).reshape((4, 6, 2, 1), order="F")
    down = blocks.subp(x, 0.5)
    assert down.shape == (2, 3, 8, 1)
    np.testing.assert_array_equal(down[:, :, 1, 0], x[1::2, 0::2, 0, 0])  # i = 2: a = 1, b = 0
    np.testing.assert_array_equal(down[:, :, 6, 0], x[0::2, 1::2, 1, 0])  # channel 2, i = 3
    np.testing.assert_array_equal(blocks.subp(down, 2), x)


def test_roi_pool_bins_follow_the_caffe_rounding():
    x = np.arange(6 * 8 * 2, dtype=np.float32).reshape((6, 8, 2, 1), order="F")
    whole = np.array([1, 1, 1, 8, 6], np.float32).reshape(5, 1)  # [image u1 v1 u2 v2], 1-based
    np.testing.assert_array_equal(
        blocks.roi_pool(x, whole, (1, 1), (1, 0, 0, 1, 0, 0), "max")[0, 0, :, 0], [47, 95]
    )
    # rows 2..5 (v 2..5) split in 2 bins of 2, columns 3..4 in one; average of each 2×2 block
    box = np.array([1, 3, 2, 4, 5], np.float32).reshape(5, 1)
    pooled = blocks.roi_pool(x, box, (2, 1), (1, 0, 0, 1, 0, 0), "avg")[:, 0, 0, 0]
    np.testing.assert_allclose(pooled, [x[1:3, 2:4, 0, 0].mean(), x[3:5, 2:4, 0, 0].mean()])
    # a scale of 0.5 maps image coordinates to this half-size map: u 5 → 2.5 → rounds to column 3
    scaled = blocks.roi_pool(
        x, np.array([1, 5, 1, 5, 1], np.float32).reshape(5, 1), (1, 1), (0.5, 0, 0, 0.5, 0, 0), "max"
    )
    assert scaled[0, 0, 0, 0] == x[0, 2, 0, 0]
