"""Layers and options OpenCV's Caffe importer lacks or ignores (Threshold, ArgMax, Bias, Log's base,
InnerProduct's transpose, concat_dim, round_mode FLOOR, a constant Power, Clip, Tile, Reduction,
Embed, Swish's beta, MVN's eps, LRN's default alpha, a dilated Deconvolution's size), against NumPy
written from BVLC Caffe's CPU code (src/caffe/layers/*.cpp), not from the converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.converters.caffe.parity import make_caffe, onnx_outputs

mk = make_caffe()
L = mk.Layer
R = np.random.default_rng(11)
X = R.uniform(-1, 1, (2, 3, 5, 7)).astype(np.float32)


def run(tmp_path: Path, layers: list, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    prototxt, weights = mk.write_net(tmp_path, "n", {k: v.shape for k, v in feeds.items()}, layers)
    return onnx_outputs(prototxt, weights, feeds)


def close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a.reshape(b.shape), b, rtol=1e-5, atol=1e-6)


def test_threshold_is_strict(tmp_path: Path) -> None:
    x = X.copy()
    x[0, 0, 0, :3] = 0.25
    out = run(
        tmp_path, [L("t", "Threshold", ["data"], ["t"], "threshold_param { threshold: 0.25 }")], {"data": x}
    )
    close(out["t"], (x > 0.25).astype(np.float32))


def test_argmax_without_axis_with_values(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        [L("a", "ArgMax", ["data"], ["a"], "argmax_param { top_k: 3 out_max_val: true }")],
        {"data": X},
    )
    flat = X.reshape(2, -1)
    order = np.argsort(-flat, axis=1, kind="stable")[:, :3]
    expected = np.stack([order.astype(np.float32), np.take_along_axis(flat, order, 1)], axis=1)
    close(out["a"], expected)


def test_argmax_on_axis(tmp_path: Path) -> None:
    out = run(tmp_path, [L("a", "ArgMax", ["data"], ["a"], "argmax_param { axis: 1 }")], {"data": X})
    close(out["a"], X.argmax(axis=1)[:, None].astype(np.float32))


def test_bias_one_and_two_bottoms(tmp_path: Path) -> None:
    b = mk.rand(R, 3)
    w = R.uniform(-1, 1, (2, 3)).astype(np.float32)
    out = run(
        tmp_path,
        [
            L("b", "Bias", ["data"], ["b"], "", [b]),
            L("c", "Bias", ["b", "w"], ["c"], "bias_param { axis: 0 }"),
        ],
        {"data": X, "w": w},
    )
    close(out["c"], X + b[None, :, None, None] + w[:, :, None, None])


def test_log_base_scale_shift(tmp_path: Path) -> None:
    out = run(
        tmp_path, [L("l", "Log", ["data"], ["l"], "log_param { base: 10 scale: 2 shift: 3 }")], {"data": X}
    )
    close(out["l"], np.log10(3 + 2 * X))


def test_exp_default_and_power_constant(tmp_path: Path) -> None:
    layers = [
        L("e", "Exp", ["data"], ["e"]),
        L("p", "Power", ["data"], ["p"], "power_param { power: 0 shift: 4 }"),
        L("q", "Power", ["data"], ["q"], "power_param { power: 3 scale: 0 shift: 2 }"),
    ]
    out = run(tmp_path, layers, {"data": X})
    close(out["e"], np.exp(X))
    close(out["p"], np.ones_like(X))
    close(out["q"], np.full_like(X, 8.0))


def test_inner_product_transpose(tmp_path: Path) -> None:
    w, b = mk.rand(R, 3 * 5 * 7, 4), mk.rand(R, 4)
    layers = [
        L(
            "ip",
            "InnerProduct",
            ["data"],
            ["ip"],
            "inner_product_param { num_output: 4 transpose: true }",
            [w, b],
        )
    ]
    out = run(tmp_path, layers, {"data": X})
    close(out["ip"], X.reshape(2, -1) @ w + b)


def test_concat_dim_and_slice_dim(tmp_path: Path) -> None:
    layers = [
        L("s", "Slice", ["data"], ["a", "b"], "slice_param { slice_dim: 3 slice_point: 2 }"),
        L("c", "Concat", ["b", "a"], ["c"], "concat_param { concat_dim: 3 }"),
    ]
    out = run(tmp_path, layers, {"data": X})
    close(out["c"], np.concatenate([X[..., 2:], X[..., :2]], axis=3))


def _ave_pool_floor(x: np.ndarray, k: int, s: int, pad: int) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    out = np.zeros((n, c, oh, ow), np.float32)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s - pad, j * s - pad
            h1, w1 = min(h0 + k, h + pad), min(w0 + k, w + pad)
            size = (h1 - h0) * (w1 - w0)
            window = x[:, :, max(h0, 0) : min(h1, h), max(w0, 0) : min(w1, w)]
            out[:, :, i, j] = window.sum(axis=(2, 3)) / size
    return out


@pytest.mark.parametrize("mode", ["FLOOR", "CEIL"])
def test_ave_pooling_round_modes(mode: str, tmp_path: Path) -> None:
    params = f"pooling_param {{ pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: {mode} }}"
    out = run(tmp_path, [L("p", "Pooling", ["data"], ["p"], params)], {"data": X})
    if mode == "FLOOR":
        close(out["p"], _ave_pool_floor(X, 3, 2, 1))
    else:  # 5×7 → ceil((5+2-3)/2)+1 = 3, ceil((7+2-3)/2)+1 = 4: no window past the pad here
        assert out["p"].shape == (2, 3, 3, 4)


def test_clip_tile_swish_beta(tmp_path: Path) -> None:
    layers = [
        L("c", "Clip", ["data"], ["c"], "clip_param { min: -0.3 max: 0.5 }"),
        L("t", "Tile", ["data"], ["t"], "tile_param { axis: 2 tiles: 3 }"),
        L("s", "Swish", ["data"], ["s"], "swish_param { beta: 1.5 }"),
    ]
    out = run(tmp_path, layers, {"data": X})
    close(out["c"], np.clip(X, -0.3, 0.5))
    close(out["t"], np.tile(X, (1, 1, 3, 1)))
    close(out["s"], X / (1 + np.exp(-1.5 * X)))


@pytest.mark.parametrize("operation", ["SUM", "ASUM", "SUMSQ", "MEAN"])
def test_reduction(operation: str, tmp_path: Path) -> None:
    params = f"reduction_param {{ operation: {operation} axis: 1 coeff: 0.5 }}"
    out = run(tmp_path, [L("r", "Reduction", ["data"], ["r"], params)], {"data": X})
    flat = X.reshape(2, -1)
    expected = {
        "SUM": flat.sum(1),
        "ASUM": np.abs(flat).sum(1),
        "SUMSQ": (flat**2).sum(1),
        "MEAN": flat.mean(1),
    }
    close(out["r"], 0.5 * expected[operation])


def test_embed(tmp_path: Path) -> None:
    weights, bias = mk.rand(R, 7, 3), mk.rand(R, 3)
    ids = np.array([[0, 6, 2], [3, 3, 1]], np.float32)
    params = "embed_param { num_output: 3 input_dim: 7 }"
    out = run(tmp_path, [L("e", "Embed", ["data"], ["e"], params, [weights, bias])], {"data": ids})
    close(out["e"], weights[ids.astype(int)] + bias)


def test_mvn_eps_is_added_to_the_standard_deviation(tmp_path: Path) -> None:
    """MVNLayer::Forward_cpu: variance^0.5, then + eps (OpenCV puts eps under the root)."""
    params = "mvn_param { across_channels: true eps: 0.5 }"
    out = run(tmp_path, [L("m", "MVN", ["data"], ["m"], params)], {"data": X})
    flat = X.reshape(2, -1)
    centred = flat - flat.mean(1, keepdims=True)
    expected = centred / (np.sqrt((centred**2).mean(1, keepdims=True)) + 0.5)
    close(out["m"], expected.reshape(X.shape))


def test_parameter_layer(tmp_path: Path) -> None:
    value = mk.rand(R, 2, 3, 5, 7)
    layers = [
        L("p", "Parameter", [], ["p"], "parameter_param { shape { dim: 2 dim: 3 dim: 5 dim: 7 } }", [value]),
        L("s", "Eltwise", ["data", "p"], ["s"]),
    ]
    out = run(tmp_path, layers, {"data": X})
    close(out["s"], X + value)


def test_batch_reindex_and_filter(tmp_path: Path) -> None:
    index = np.array([1, 0, 1], np.float32)
    selector = np.array([[0.0], [2.0]], np.float32)
    layers = [
        L("r", "BatchReindex", ["data", "index"], ["r"]),
        L("f", "Filter", ["data", "selector"], ["f"]),
    ]
    out = run(tmp_path, layers, {"data": X, "index": index, "selector": selector})
    close(out["r"], X[[1, 0, 1]])
    close(out["f"], X[1:])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


CONT = np.array([[0, 0], [1, 1], [1, 0], [1, 1]], np.float32)  # sample 1 starts a new sequence at t=2


def test_lstm_with_sequence_restarts(tmp_path: Path) -> None:
    steps, batch, features, hidden = 4, 2, 3, 5
    x = R.uniform(-1, 1, (steps, batch, features)).astype(np.float32)
    w_x, b, w_h = mk.rand(R, 4 * hidden, features), mk.rand(R, 4 * hidden), mk.rand(R, 4 * hidden, hidden)
    layers = [
        L("l", "LSTM", ["x", "cont"], ["l"], f"recurrent_param {{ num_output: {hidden} }}", [w_x, b, w_h])
    ]
    out = run(tmp_path, layers, {"x": x, "cont": CONT})
    h = c = np.zeros((batch, hidden), np.float32)
    expected = []
    for t in range(steps):
        keep = CONT[t][:, None]
        g = x[t] @ w_x.T + b + (keep * h) @ w_h.T
        i, f, o, gg = (g[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = keep * _sigmoid(f) * c + _sigmoid(i) * np.tanh(gg)
        h = _sigmoid(o) * np.tanh(c)
        expected.append(h)
    close(out["l"], np.stack(expected))


def test_rnn_with_sequence_restarts(tmp_path: Path) -> None:
    steps, batch, features, hidden = 4, 2, 3, 5
    x = R.uniform(-1, 1, (steps, batch, features)).astype(np.float32)
    blobs = [mk.rand(R, hidden, features), mk.rand(R, hidden), mk.rand(R, hidden, hidden),
             mk.rand(R, hidden, hidden), mk.rand(R, hidden)]  # fmt: skip
    layers = [L("r", "RNN", ["x", "cont"], ["r"], f"recurrent_param {{ num_output: {hidden} }}", blobs)]
    out = run(tmp_path, layers, {"x": x, "cont": CONT})
    w_x, b_h, w_h, w_o, b_o = blobs
    h = np.zeros((batch, hidden), np.float32)
    expected = []
    for t in range(steps):
        h = np.tanh(x[t] @ w_x.T + b_h + (CONT[t][:, None] * h) @ w_h.T)
        expected.append(np.tanh(h @ w_o.T + b_o))
    close(out["r"], np.stack(expected))


def test_lrn_defaults(tmp_path: Path) -> None:
    """local_size 5, alpha 1, beta 0.75, k 1 (LRNParameter's defaults; OpenCV assumes another alpha)."""
    out = run(tmp_path, [L("n", "LRN", ["data"], ["n"])], {"data": X})
    squares = np.pad(X**2, ((0, 0), (2, 2), (0, 0), (0, 0)))
    window = sum(squares[:, i : i + X.shape[1]] for i in range(5))
    close(out["n"], X / (1 + window / 5) ** 0.75)


def test_deconvolution_dilated_without_bias(tmp_path: Path) -> None:
    """Output s(in−1) + d(k−1) + 1 − 2p (OpenCV leaves the dilation out of the size)."""
    w = mk.rand(R, 3, 2, 3, 3)
    params = (
        "convolution_param { num_output: 2 kernel_size: 3 stride: 2 dilation: 2 pad: 1 bias_term: false }"
    )
    out = run(tmp_path, [L("d", "Deconvolution", ["data"], ["d"], params, [w])], {"data": X})
    n, _, h, wd = X.shape
    full = np.zeros((n, 2, 2 * (h - 1) + 5, 2 * (wd - 1) + 5), np.float32)
    for i in range(h):
        for j in range(wd):
            for a in range(3):
                for b in range(3):
                    full[:, :, 2 * i + 2 * a, 2 * j + 2 * b] += X[:, :, i, j] @ w[:, :, a, b]
    close(out["d"], full[:, :, 1:-1, 1:-1])
