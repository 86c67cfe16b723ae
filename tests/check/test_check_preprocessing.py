"""`convert --with-preprocessing` puts the recorded mean/std subtraction in the ONNX graph, so that
model takes raw images where its source takes preprocessed ones; `check` feeds each side what it
expects (found from the netinspect metadata the converter writes) and the conversion passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netinspect
from netinspect.check import data
from netinspect.check.api import check
from netinspect.ir import Preprocessing

MATCONVNET = Path(__file__).resolve().parents[2] / "fixtures" / "matconvnet"
MEANS = {"simplenn_beta11": "mean image", "simplenn_beta17": "mean pixel"}


def fixture(stem: str) -> Path:
    mat = MATCONVNET / f"{stem}.mat"
    if not mat.is_file():
        pytest.skip(f"{mat} is absent (regenerate with fixtures/make_matconvnet.py)")
    return mat


def converted(mat: Path, folder: Path, with_preprocessing: bool) -> Path:
    path = folder / f"{mat.stem}{'_pre' if with_preprocessing else ''}.onnx"
    netinspect.save_onnx(netinspect.load(mat), path, with_preprocessing=with_preprocessing)
    return path


@pytest.mark.parametrize("stem", sorted(MEANS))
def test_source_against_its_conversion_with_preprocessing_passes(stem: str, tmp_path: Path) -> None:
    mat = fixture(stem)
    target = converted(mat, tmp_path, with_preprocessing=True)
    assert data.embedded_preprocessing(netinspect.load(target)) is not None

    result = check(mat, target, runs=2, layers="always")

    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.layers is not None and all(c.comparison.passed for c in result.layers.checks)


def test_models_with_and_without_the_preprocessing_check_against_each_other(tmp_path: Path) -> None:
    mat = fixture("simplenn_beta17")
    raw_input = converted(mat, tmp_path, with_preprocessing=True)
    plain = converted(mat, tmp_path, with_preprocessing=False)

    assert check(raw_input, plain).passed  # the source takes raw images, the target does not
    assert check(plain, raw_input).passed  # and the other way round


def test_a_wrong_mean_in_the_graph_is_still_caught(tmp_path: Path) -> None:
    """Feeding each side its own input must not hide a conversion that subtracts the wrong mean."""
    mat = fixture("simplenn_beta17")
    path = converted(mat, tmp_path, with_preprocessing=True)
    model = onnx.load(str(path))
    mean = next(t for t in model.graph.initializer if t.name == "preprocessing_mean")
    mean.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(mean)[:, ::-1].copy(), mean.name))  # BGR
    onnx.save(model, str(path))

    result = check(mat, path, layers="never")

    assert not result.passed


def test_raw_feeds_are_recovered_exactly_enough() -> None:
    pre = Preprocessing(mean=[120.0, 110.0, 100.0], std=[58.0, 57.0, 57.5])
    raw = np.random.default_rng(0).uniform(0, 255, (1, 3, 4, 4)).astype(np.float32)
    preprocessed = data.apply_preprocessing(raw, pre).astype(np.float32)
    np.testing.assert_allclose(data.apply_preprocessing(preprocessed, pre, inverse=True), raw, atol=1e-4)
