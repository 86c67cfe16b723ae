"""The reference runtime on real MatConvNet files made by others (../shared/models): two MATLAB
v7.3 DnCNN denoisers (SimpleNN and DagNN) and FFDNet, whose own layer types run through the
custom-layer hook. The files' outputs are unknown, so each test checks a property the model was
trained for, on a noisy image whose noise we know.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from tests.converters.matconvnet.ffdnet_layers import reference_layers, subp

MODELS = Path(__file__).resolve().parents[4].parent / "shared" / "models"
SIGMA = 25 / 255  # the DnCNN models are for σ = 25 on images scaled to [0, 1]


def _model(name: str) -> Path:
    path = MODELS / name
    if not path.exists():
        pytest.skip(f"real model file absent: {path}")
    return path


def _noisy_constant(size: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    noise = (SIGMA * np.random.default_rng(seed).standard_normal((size, size, 1))).astype(np.float32)
    return np.float32(0.5) + noise, noise


def test_dncnn_simplenn_predicts_the_noise():
    # cszn/DnCNN's demo denoises with `output = input - res(end).x`: the net outputs the residual,
    # i.e. its estimate of the noise. On a flat grey image all of the input's variation is noise.
    ref = MatConvNetReference(_model("dncnn_sigma25_simplenn_v73.mat"))
    assert ref.input_names == ["input"]
    assert ref.input_shapes == {"input": (None, None, 1, None)}
    assert len(ref.layer_names) == 33 and ref.output_names == [ref.layer_names[-1]]
    noisy, noise = _noisy_constant()
    residual = ref.run({"input": noisy})[ref.output_names[0]]
    assert residual.shape == (40, 40, 1, 1) and np.isfinite(residual).all()
    assert abs(residual.std() / noise.std() - 1) < 0.1
    assert np.corrcoef(residual.ravel(), noise.ravel())[0, 1] > 0.95


def test_dncnn_dagnn_predicts_the_clean_image():
    # DnCNN_Init.m: prediction = Sum(conv output, input) feeds an L2 loss against the clean label,
    # so 'prediction' is the denoised image. The loss layer and its 'label' input are dropped.
    ref = MatConvNetReference(_model("dncnn_dagnn_epoch50_v73.mat"))
    assert ref.input_names == ["input"]
    assert "loss" not in ref.layer_names and ref.layer_names[0] == "conv1"
    assert ref.output_names == ["sum49"]
    kinds = {kind for _, kind, _ in ref.iter_layers({"input": _noisy_constant(16)[0]})}
    assert kinds == {"dagnn.Conv", "dagnn.ReLU", "dagnn.BatchNorm", "dagnn.Sum"}
    noisy, noise = _noisy_constant()
    clean = ref.run({"input": noisy})["sum49"]
    assert clean.shape == (40, 40, 1, 1) and np.isfinite(clean).all()
    assert abs(float(clean.mean()) - 0.5) < 0.02
    assert (clean - 0.5).std() < 0.25 * noise.std()


def test_ffdnet_layer_types_are_built_in_and_a_hook_replaces_them():
    path = _model("ffdnet_gray_retrained_simplenn_v5.mat")
    builtin = MatConvNetReference(path)
    assert builtin.input_names == ["input", "noise_level"]
    assert builtin.input_shapes["input"][2] == 1 and builtin.input_shapes["noise_level"] == (1, 1, 1, None)

    x = np.random.default_rng(3).standard_normal((6, 8, 2, 1)).astype(np.float32)
    down = subp([x], {"scale": np.array([[0.5]])}, [])
    assert down.shape == (3, 4, 8, 1)
    np.testing.assert_array_equal(subp([down], {"scale": np.array([[2]])}, []), x)

    ref = MatConvNetReference(path, custom_layers=reference_layers(SIGMA))
    assert ref.output_names == ["layer32"]
    # A non-constant image, so that a wrong sub-image order would scramble structure, not just noise.
    rows, cols = np.mgrid[0:40, 0:40]
    clean = (0.2 + 0.5 * (cols / 39) + 0.2 * ((rows > 12) & (rows < 28) & (cols > 8))).astype(np.float32)
    noise = (SIGMA * np.random.default_rng(1).standard_normal((40, 40))).astype(np.float32)
    denoised = ref.run({"input": clean + noise})["layer32"][:, :, 0, 0]
    assert denoised.shape == (40, 40) and np.isfinite(denoised).all()
    noisy_error, denoised_error = np.sqrt(np.mean(noise**2)), np.sqrt(np.mean((denoised - clean) ** 2))
    # 13.6 dB here; swapping the sub-image rows and columns in SubP drops it to 9.8 dB
    assert 20 * np.log10(noisy_error / denoised_error) > 11
    # the built-in layers (noise level as an input, FFDNet's [0, 1] scale) compute the same
    level = np.full((1, 1, 1, 1), SIGMA, np.float32)
    same = builtin.run({"input": clean + noise, "noise_level": level})["layer32"][:, :, 0, 0]
    np.testing.assert_allclose(same, denoised, rtol=1e-5, atol=1e-6)
