"""The figures `check` reports for a pair of tensors, and the tolerance rule that decides."""

from __future__ import annotations

import numpy as np
import pytest

from netinspect.check.compare import DEFAULT_TOLERANCES, compare_arrays, tolerance_for


def test_identical_tensors_pass_with_zero_error() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    c = compare_arrays("y", x, x.copy(), tolerance_for("float32"))
    assert c.passed
    assert c.max_abs_error == c.max_rel_error == c.mean_abs_error == 0.0
    assert c.cosine_similarity == pytest.approx(1.0)
    assert c.outside_count == 0 and c.outside_fraction == 0.0


def test_figures_of_a_known_difference() -> None:
    source = np.array([[1.0, 2.0, -4.0, 0.0]], dtype=np.float32)
    target = np.array([[1.0, 2.5, -4.0, 0.001]], dtype=np.float32)
    c = compare_arrays("y", source, target, tolerance_for("float32", rtol=0.1, atol=0.01))
    assert c.max_abs_error == pytest.approx(0.5)
    assert c.max_rel_error == pytest.approx(0.25)  # 0.5 / 2; the zero element is left to atol
    assert c.mean_abs_error == pytest.approx((0.5 + 0.001) / 4, rel=1e-5)
    expected_cosine = float(
        np.dot(source.ravel(), target.ravel()) / np.linalg.norm(source) / np.linalg.norm(target)
    )
    assert c.cosine_similarity == pytest.approx(expected_cosine)
    assert c.outside_count == 1  # 0.5 > 0.01 + 0.1 * 2; 0.001 <= 0.01
    assert c.outside_fraction == pytest.approx(0.25)
    assert c.worst_index == (0, 1)
    assert not c.passed


def test_tolerance_rule_is_atol_plus_rtol_times_source() -> None:
    source = np.array([100.0, 1.0], dtype=np.float32)
    inside = compare_arrays(
        "y", source, source + np.array([0.0099, 0.0], np.float32), tolerance_for("float32", 1e-4, 1e-5)
    )
    outside = compare_arrays(
        "y", source, source + np.array([0.0, 0.0002], np.float32), tolerance_for("float32", 1e-4, 1e-5)
    )
    assert inside.passed
    assert not outside.passed and outside.outside_count == 1


def test_default_tolerances_are_stated_per_dtype() -> None:
    assert (tolerance_for("float32").rtol, tolerance_for("float32").atol) == DEFAULT_TOLERANCES["float32"]
    assert tolerance_for("float16").rtol > tolerance_for("float32").rtol
    assert (tolerance_for("int64").rtol, tolerance_for("int64").atol) == (0.0, 0.0)
    assert tolerance_for("float32", rtol=0.5).atol == DEFAULT_TOLERANCES["float32"][1]


def test_quantized_outputs_are_compared_in_steps() -> None:
    source = np.array([10, 20, 30], dtype=np.int8)
    one_step = compare_arrays(
        "q", source, np.array([11, 20, 29], dtype=np.int8), tolerance_for("int8", quant_step=1.0)
    )
    two_steps = compare_arrays(
        "q", source, np.array([12, 20, 30], dtype=np.int8), tolerance_for("int8", quant_step=1.0)
    )
    assert one_step.passed and one_step.max_error_steps == 1.0
    assert not two_steps.passed and two_steps.max_error_steps == 2.0
    loose = compare_arrays(
        "q", source, np.array([12, 20, 30], dtype=np.int8), tolerance_for("int8", quant_step=1.0, steps=2)
    )
    assert loose.passed


def test_classifier_outputs_get_top_k_agreement() -> None:
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((4, 10)).astype(np.float32)
    swapped = scores.copy()
    best = np.argmax(scores[0])
    swapped[0, best] = scores[0].min() - 1.0  # sample 0 loses its best class entirely
    c = compare_arrays("prob", scores, swapped, tolerance_for("float32"))
    assert c.top1_agreement == pytest.approx(0.75)
    assert c.top5_agreement == pytest.approx(0.75)
    as_4d = compare_arrays(
        "prob", scores.reshape(4, 10, 1, 1), swapped.reshape(4, 10, 1, 1), tolerance_for("float32")
    )
    assert as_4d.top1_agreement == pytest.approx(0.75)
    feature_map = compare_arrays(
        "y", np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 4)), tolerance_for("float64")
    )
    assert feature_map.top1_agreement is None


def test_different_element_counts_fail_with_a_reason() -> None:
    c = compare_arrays(
        "y", np.zeros((1, 8, 4, 4), np.float32), np.zeros((1, 8, 5, 4), np.float32), tolerance_for("float32")
    )
    assert not c.passed
    assert "cannot match" in (c.problem or "")


def test_flattened_target_is_compared_with_its_source() -> None:
    """A 1×1 conv output (N, K, 1, 1) and a Gemm output (N, K) hold the same values."""
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1)
    assert compare_arrays("fc", x, x.reshape(1, 6), tolerance_for("float32")).passed


def test_nan_on_one_side_fails_and_on_both_sides_matches() -> None:
    source = np.array([1.0, np.nan], dtype=np.float32)
    assert compare_arrays("y", source, source.copy(), tolerance_for("float32")).passed
    c = compare_arrays("y", source, np.array([1.0, 2.0], np.float32), tolerance_for("float32"))
    assert not c.passed and c.outside_count == 1
