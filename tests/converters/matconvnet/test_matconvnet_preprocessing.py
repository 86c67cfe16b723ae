"""`convert --with-preprocessing`: the ONNX model takes raw 0–255 images and subtracts
MatConvNet's averageImage itself. Proved against the reference fed (raw − averageImage), with the
average image read straight from the file by scipy, not through the converter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import scipy.io

from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from tests.conftest import FIXTURES


def average_image(path: Path) -> np.ndarray:
    """H×W×C (or 1×1×C) averageImage, wherever this layout keeps it."""
    mat = scipy.io.loadmat(path)
    normalization = mat["normalization"] if "normalization" in mat else mat["meta"][0, 0]["normalization"]
    return np.asarray(normalization[0, 0]["averageImage"], np.float32)


@pytest.mark.parametrize(
    ("fixture", "mean_kind"), [("simplenn_beta11", "image"), ("simplenn_beta17", "pixel")]
)
def test_with_preprocessing_matches_the_reference_on_raw_images(
    fixture: str, mean_kind: str, cli, tmp_path: Path
) -> None:
    path = FIXTURES / "matconvnet" / f"{fixture}.mat"
    out = tmp_path / "with_pre.onnx"
    assert cli("convert", path, "-o", out, "--with-preprocessing", "--fixed-size").code == 0
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    _, c, h, w = spec.shape
    raw = np.random.default_rng(11).uniform(0, 255, (1, c, h, w)).astype(np.float32)
    actual = session.run(None, {spec.name: raw})[0]

    mean = average_image(path)
    assert (mean.shape[:2] == (1, 1)) == (mean_kind == "pixel")
    reference = MatConvNetReference(path)
    hwcn = raw.transpose(2, 3, 1, 0) - mean[..., None]
    expected = reference.run({reference.input_names[0]: hwcn})[reference.output_names[0]].transpose(
        3, 2, 0, 1
    )
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    without = tmp_path / "plain.onnx"
    assert cli("convert", path, "-o", without, "--fixed-size").code == 0
    plain = ort.InferenceSession(str(without), providers=["CPUExecutionProvider"]).run(
        None, {spec.name: raw}
    )[0]
    assert not np.allclose(plain, expected, rtol=1e-4, atol=1e-4)  # the mean matters for this input
