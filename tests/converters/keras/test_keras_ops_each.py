"""Every operation node netinspect maps, one model each (issue 20, item 1): Keras 3 `keras.ops`
functions and tf-keras `TFOpLambda` TensorFlow functions, converted and run in onnxruntime against
Keras' own `predict` (rtol = atol = 1e-4) on inputs that reach both sides of every threshold,
rounding tie, NaN and ±Inf the operation treats apart; those ONNX cannot express are refused,
each named with why, all at once."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_generator
from tests.converters.keras.conftest import compare

make_ops = fixture_generator("keras/make_ops.py")
CASES = [(name, "k3") for name in make_ops.KERAS3] + [(name, "tfk") for name in make_ops.TF]
REFUSED = [(name, "k3") for name in make_ops.REFUSED_KERAS3] + [(name, "tfk") for name in make_ops.REFUSED_TF]


@pytest.fixture(scope="session")
def ops_cache():
    """fixtures/cache/keras-ops/<hash>: generated once (TensorFlow in a subprocess) and reused."""
    return make_ops.ensure()


@pytest.mark.parametrize(("name", "flavour"), CASES, ids=[f"{f}-{n}" for n, f in CASES])
def test_operation_matches_keras(ops_cache, name, flavour):
    stem, npz = make_ops.case_files(name, flavour)
    worst = compare(ops_cache / stem, ops_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


@pytest.mark.parametrize(("name", "flavour"), REFUSED, ids=[f"{f}-{n}" for n, f in REFUSED])
def test_operation_onnx_cannot_express_is_refused_by_name(cli, ops_cache, tmp_path, name, flavour):
    path = ops_cache / make_ops.case_files(name, flavour)[0]
    result = cli("convert", path, "-o", tmp_path / "out.onnx")
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.err
    assert name in lines[0].lower().replace("_", "") or name in lines[0], lines[0]
    assert "not convertible" in lines[0] or "cannot be rebuilt" in lines[0], lines[0]


@pytest.mark.parametrize("name", ["expm1_tiny", "log1p_tiny"])
def test_expm1_and_log1p_keep_relative_precision_near_zero(ops_cache, name):
    """For |x| ~ 1e-7 the naive exp(x) − 1 and log(1 + x) lose every digit in float32 (1 + x
    rounds to 1); the converted graph agrees with Keras to 1e-5 relative."""
    import numpy as np

    import netinspect
    from tests.converters.keras.conftest import run_onnx

    stem, npz = make_ops.case_files(name, "k3")
    data = np.load(ops_cache / npz)
    (got,) = run_onnx(netinspect.load(ops_cache / stem), [data["x0"], data["x1"], data["x2"]])
    want = data["y0"]
    assert np.all(np.abs(want) > 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
