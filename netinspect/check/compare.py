"""How close two outputs are, and whether that is close enough.

An element is outside tolerance when |target - source| > atol + rtol * |source| (numpy's
`isclose` rule, with the source as the reference). An output passes when no element is
outside. Quantized outputs are compared in quantization steps: atol becomes steps × scale.
Integer and bool outputs must be equal element by element (compared as integers, so int64
ids beyond 2**53 still count), strings and other objects likewise. A sequence output (a list
of tensors) or a map (a dict, ZipMap's list of dicts) passes when every element does.
The other figures (max/mean errors, cosine, top-k agreement) explain a failure; they do not
decide it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-9),
    "float32": (1e-3, 1e-4),
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
}
"""(rtol, atol) by the source output's dtype. float32 allows for differently ordered accumulation
in deep convolution stacks (two correct runtimes differ by ~1e-5 relative on VGG-19); a real
conversion bug (a transposed kernel, a wrong scale) is off by orders of magnitude more."""

EXACT = (0.0, 0.0)
"""Integer and bool outputs (indices, labels, masks) must match exactly."""

QUANTIZED_STEPS = 1.0
"""Quantized outputs may differ by one quantization step (rounding ties differ across runtimes)."""

TOP_K = 5


@dataclass(frozen=True)
class Tolerance:
    """What "close enough" means for one output; `quant_step` set means errors count in steps."""

    rtol: float
    atol: float
    quant_step: float | None = None
    steps: float | None = None

    def describe(self) -> str:
        if self.quant_step is not None:
            return f"{self.steps:g} step(s) of {self.quant_step:g}"
        return f"rtol={self.rtol:g} atol={self.atol:g}"


def tolerance_for(
    dtype: str,
    rtol: float | None = None,
    atol: float | None = None,
    quant_step: float | None = None,
    steps: float | None = None,
) -> Tolerance:
    """The tolerance for an output of `dtype`: user values where given, else the dtype default."""
    if quant_step is not None:
        allowed = QUANTIZED_STEPS if steps is None else steps
        return Tolerance(
            rtol=0.0 if rtol is None else rtol,
            atol=allowed * quant_step,
            quant_step=quant_step,
            steps=allowed,
        )
    default_rtol, default_atol = DEFAULT_TOLERANCES.get(dtype, EXACT)
    return Tolerance(
        rtol=default_rtol if rtol is None else rtol,
        atol=default_atol if atol is None else atol,
    )


SPREAD_STEPS_FRACTION = 0.99
"""Judged against a reference that disagrees with itself (check_against_kernels): the converted model
passes within the reference's spread, or within its tolerance on this share of the elements…"""
SPREAD_STEPS_NEVER = 3.0
"""…and never more than this many steps off (quantized outputs), whichever is wider."""


@dataclass
class KernelSpread:
    """How far the reference runtime's own kernel sets lie apart on one output, and how far the
    converted model lies from each (in steps for quantized outputs, else absolute)."""

    spread: float
    spread_between: tuple[str, str]
    spread_fraction: float
    """Share of the elements on which the two furthest kernel sets differ at all."""
    errors: dict[str, float]
    closest: str
    within_spread: bool
    unit: str

    def describe(self) -> str:
        a, b = self.spread_between
        distances = ", ".join(f"{e:.3g} from {k}" for k, e in self.errors.items())
        return (
            f"reference's own spread {self.spread:.3g}{self.unit} ({a} vs {b}, {self.spread_fraction:.0%} "
            f"differ); converted: {distances}; matches the {self.closest}"
        )


@dataclass
class Comparison:
    """The figures for one tensor pair (a model output, or one layer's output)."""

    name: str
    dtype: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    tolerance: Tolerance
    passed: bool
    size: int = 0
    max_abs_error: float = float("nan")
    max_rel_error: float = float("nan")
    mean_abs_error: float = float("nan")
    cosine_similarity: float = float("nan")
    outside_count: int = 0
    outside_fraction: float = float("nan")
    worst_index: tuple[int, ...] | None = None
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    max_error_steps: float | None = None
    problem: str | None = None
    """Set when the tensors could not be compared value by value (shape, dtype or NaN trouble)."""
    kernels: KernelSpread | None = None
    """Set when the reference ran with several kernel sets (quantized TFLite models in LiteRT)."""

    def summary(self, with_name: bool = True) -> str:
        """One line of figures, as a JUnit failure message or a log line."""
        prefix = f"{self.name}: " if with_name else ""
        if self.problem:
            return prefix + self.problem
        if self.max_abs_error != self.max_abs_error:  # NaN: strings or objects, compared for equality
            return prefix + f"{self.outside_count} of {self.size} element(s) differ"
        parts = [
            f"max abs {self.max_abs_error:.3g}",
            f"max rel {self.max_rel_error:.3g}",
            f"mean abs {self.mean_abs_error:.3g}",
            f"cosine {self.cosine_similarity:.6f}",
            f"{self.outside_fraction:.2%} outside {self.tolerance.describe()}",
        ]
        if self.max_error_steps is not None:
            parts.append(f"{self.max_error_steps:g} steps")
        if self.top1_agreement is not None:
            parts.append(f"top-1 {self.top1_agreement:.0%}")
        if self.top5_agreement is not None:
            parts.append(f"top-5 {self.top5_agreement:.0%}")
        if self.kernels is not None:
            parts.append(self.kernels.describe())
        return prefix + ", ".join(parts)


def compare_arrays(name: str, source: np.ndarray, target: np.ndarray, tolerance: Tolerance) -> Comparison:
    """Compare `target` against the reference `source` (any rank, scalars and empty tensors too).

    Shapes that differ only by singleton axes or by flattening (a 1×1 conv output vs. a Gemm
    output) are compared after reshaping the target onto the source, since the figures still mean
    the same thing; different element counts cannot be compared and fail.
    """
    source = np.asarray(source)
    target = np.asarray(target)
    result = Comparison(
        name=name,
        dtype=source.dtype.name,
        source_shape=tuple(source.shape),
        target_shape=tuple(target.shape),
        tolerance=tolerance,
        passed=False,
        size=int(source.size),
    )
    if source.size != target.size:
        result.problem = f"shape {tuple(target.shape)} cannot match the source's {tuple(source.shape)}"
        return result
    numeric = source.dtype.kind in "biuf" and target.dtype.kind in "biuf"
    if not numeric and source.dtype.kind != target.dtype.kind:
        result.problem = f"dtype {target.dtype.name} where the source gives {source.dtype.name}"
        return result
    if source.dtype.kind in "biu" and target.dtype.kind == "f" and tolerance.quant_step is None:
        result.problem = f"dtype {target.dtype.name} where the source gives {source.dtype.name}"
        return result
    target = target.reshape(source.shape)
    if not numeric:
        _fill_exact(result, source, target)
        return result
    a = source.astype(np.float64, copy=False).reshape(-1)
    b = target.astype(np.float64, copy=False).reshape(-1)
    _fill_errors(result, a, b, tolerance)
    if source.dtype.kind in "biu" and target.dtype.kind in "biu" and tolerance.quant_step is None:
        result.outside_count = int(np.count_nonzero(source.reshape(-1) != target.reshape(-1)))
        result.outside_fraction = result.outside_count / source.size if source.size else 0.0
    if result.worst_index is not None:
        result.worst_index = tuple(int(i) for i in np.unravel_index(result.worst_index[0], source.shape))
    if source.dtype.kind == "f":  # scores; int and bool outputs are labels or masks already
        _fill_topk(result, a.reshape(source.shape), b.reshape(source.shape))
    result.passed = result.outside_count == 0 and result.problem is None
    return result


def _fill_exact(result: Comparison, source: np.ndarray, target: np.ndarray) -> None:
    """Strings and other objects: equal or not, element by element; no error figures exist."""
    unequal = np.array(
        [not _same(a, b) for a, b in zip(source.reshape(-1), target.reshape(-1), strict=True)], dtype=bool
    )
    result.outside_count = int(np.count_nonzero(unequal))
    result.outside_fraction = result.outside_count / source.size if source.size else 0.0
    if result.outside_count:
        result.worst_index = tuple(int(i) for i in np.unravel_index(int(np.argmax(unequal)), source.shape))
    result.passed = result.outside_count == 0


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bytes) != isinstance(b, bytes):
        a = a.decode("utf-8", "replace") if isinstance(a, bytes) else a
        b = b.decode("utf-8", "replace") if isinstance(b, bytes) else b
    return bool(a == b)


ToleranceRule = Callable[[str], Tolerance]
"""The tolerance for an output of a given dtype name."""


def compare_values(name: str, source: Any, target: Any, tolerance_for: ToleranceRule) -> Comparison:
    """Compare any output a runtime gives: a tensor, a sequence of tensors, or a map.

    A sequence or map becomes one Comparison: every element compared (tensors by the tensor rule,
    scalars inside maps exactly or by their dtype's tolerance), the figures of the worst element
    shown, the sizes and outside counts summed, and a `problem` when the lengths or keys differ.
    """
    if isinstance(source, Mapping) or (isinstance(source, Sequence) and not isinstance(source, str | bytes)):
        return _compare_container(name, source, target, tolerance_for)
    array, other = _scalar_or_array(source), _scalar_or_array(target)
    return compare_arrays(name, array, other, tolerance_for(array.dtype.name))


def _scalar_or_array(value: Any) -> np.ndarray:
    """onnxruntime hands a map's values (ZipMap's float32 scores) over as Python floats."""
    return np.asarray(np.float32(value) if type(value) is float else value)


def _compare_container(name: str, source: Any, target: Any, tolerance_for: ToleranceRule) -> Comparison:
    is_map = isinstance(source, Mapping)
    kind = "map" if is_map else "sequence"
    keys = list(source) if is_map else list(range(len(source)))
    parts = []
    problem = None
    if is_map != isinstance(target, Mapping) or isinstance(target, str | bytes) or target is None:
        problem = f"the target gives {type(target).__name__} where the source gives a {kind}"
    elif is_map and set(source) != set(target):
        problem = f"map keys differ: source {sorted(map(str, source))}, target {sorted(map(str, target))}"
    elif not is_map and len(source) != len(target):
        problem = f"sequence of {len(target)} element(s) where the source gives {len(source)}"
    else:
        parts = [compare_values(f"{name}[{key}]", source[key], target[key], tolerance_for) for key in keys]
    element = parts[0].dtype if parts else "?"
    result = Comparison(
        name=name,
        dtype=f"{kind}({element})",
        source_shape=(len(source),),
        target_shape=(len(target),) if isinstance(target, Sized) else (),
        tolerance=parts[0].tolerance if parts else tolerance_for("float32"),
        passed=False,
        size=sum(p.size for p in parts),
        problem=problem,
    )
    if problem is not None:
        return result
    result.outside_count = sum(p.outside_count for p in parts)
    result.outside_fraction = result.outside_count / result.size if result.size else 0.0
    comparable = [p for p in parts if not np.isnan(p.max_abs_error)]
    if comparable:
        worst = max(comparable, key=lambda p: p.max_abs_error)
        result.max_abs_error = worst.max_abs_error
        result.max_rel_error = max(p.max_rel_error for p in comparable)
        total = sum(p.size for p in comparable)
        result.mean_abs_error = sum(p.mean_abs_error * p.size for p in comparable) / total if total else 0.0
        result.cosine_similarity = min(p.cosine_similarity for p in comparable)
    failing = next((i for i, p in enumerate(parts) if not p.passed), None)
    if failing is not None:
        result.worst_index = (failing,)
        if parts[failing].problem:
            result.problem = f"element {keys[failing]}: {parts[failing].problem}"
    result.passed = all(p.passed for p in parts)
    return result


def _fill_errors(result: Comparison, a: np.ndarray, b: np.ndarray, tolerance: Tolerance) -> None:
    """Error figures of two flat float64 arrays (flat, so a scalar's errors index like any other)."""
    both_nan = np.isnan(a) & np.isnan(b)
    equal_inf = np.isinf(a) & (a == b)
    same = both_nan | equal_inf
    diff = np.abs(b - a)
    diff[same] = 0.0
    diff = np.where(np.isnan(diff), np.inf, diff)
    magnitude = np.abs(a)
    outside = diff > tolerance.atol + tolerance.rtol * np.where(np.isfinite(magnitude), magnitude, 0.0)
    result.outside_count = int(np.count_nonzero(outside))
    result.outside_fraction = result.outside_count / a.size if a.size else 0.0
    if a.size == 0:
        result.max_abs_error = result.max_rel_error = result.mean_abs_error = 0.0
        result.cosine_similarity = 1.0
        return
    worst = int(np.argmax(diff))
    result.worst_index = (worst,)  # flat; compare_arrays maps it onto the source's shape
    result.max_abs_error = float(diff.flat[worst])
    result.mean_abs_error = float(diff.mean())
    nonzero = magnitude > 0
    result.max_rel_error = float((diff[nonzero] / magnitude[nonzero]).max()) if nonzero.any() else 0.0
    if tolerance.quant_step:
        result.max_error_steps = float(result.max_abs_error / tolerance.quant_step)
    finite = np.isfinite(a) & np.isfinite(b)
    result.cosine_similarity = _cosine(a[finite], b[finite])
    if np.any(np.isnan(a) ^ np.isnan(b)):
        result.problem = "NaN where the other runtime gives a number"


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm_a = float(np.linalg.norm(a))
    norm_b = float(np.linalg.norm(b))
    if norm_a == 0.0 and norm_b == 0.0:
        return 1.0
    if norm_a == 0.0 or norm_b == 0.0:
        return 0.0
    return float(np.dot(a.ravel(), b.ravel()) / (norm_a * norm_b))


def classifier_scores(array: np.ndarray) -> np.ndarray | None:
    """(N, classes) scores if the tensor looks like a classifier output: (N, K) or (N, K, 1, 1), K > 1."""
    if array.ndim == 2 and array.shape[1] > 1:
        return array
    if array.ndim == 4 and array.shape[1] > 1 and array.shape[2:] == (1, 1):
        return array.reshape(array.shape[0], array.shape[1])
    return None


def _fill_topk(result: Comparison, a: np.ndarray, b: np.ndarray) -> None:
    """Top-1: share of samples whose best class agrees. Top-5: share whose five best agree as sets."""
    scores_a = classifier_scores(a)
    scores_b = classifier_scores(b)
    if (
        scores_a is None
        or scores_b is None
        or not np.isfinite(scores_a).all()
        or not np.isfinite(scores_b).all()
    ):
        return
    result.top1_agreement = float(np.mean(np.argmax(scores_a, axis=1) == np.argmax(scores_b, axis=1)))
    k = min(TOP_K, scores_a.shape[1])
    top_a = np.sort(np.argsort(-scores_a, axis=1, kind="stable")[:, :k], axis=1)
    top_b = np.sort(np.argsort(-scores_b, axis=1, kind="stable")[:, :k], axis=1)
    result.top5_agreement = float(np.mean(np.all(top_a == top_b, axis=1)))


def check_against_kernels(
    comparison: Comparison, variants: Mapping[str, Any], target: Any, tolerance: Tolerance
) -> Comparison:
    """Judge `comparison` (the target against the reference's first kernel set) again, knowing what
    each of the reference's kernel sets gives (`variants`, label → output): the spread between them is
    the reference's own noise. It passes when the target lies no further from its closest kernel set
    than the kernel sets lie from each other, or when it is within tolerance of that closest set on
    ≥ 99 % of the elements and (quantized) never more than 3 steps off — whichever is wider."""
    arrays = {label: np.asarray(value, dtype=np.float64) for label, value in variants.items()}
    first = next(iter(arrays.values()))
    other = np.asarray(target, dtype=np.float64)
    if comparison.problem is not None or other.size != first.size or len(arrays) < 2:
        return comparison
    other = other.reshape(first.shape)
    step = tolerance.quant_step or 1.0
    labels = list(arrays)
    pairs = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :]]
    gaps = {pair: np.abs(arrays[pair[0]] - arrays[pair[1]]) / step for pair in pairs}
    widest = max(pairs, key=lambda pair: float(gaps[pair].max(initial=0.0)))
    spread = float(gaps[widest].max(initial=0.0))
    distances = {label: np.abs(other - array) / step for label, array in arrays.items()}
    errors = {label: float(d.max(initial=0.0)) for label, d in distances.items()}
    closest = min(errors, key=lambda label: errors[label])
    within = errors[closest] <= spread
    allowed = tolerance.atol / step + tolerance.rtol * np.abs(arrays[closest]) / step
    outside = distances[closest] > allowed
    loose = float(np.mean(outside)) <= 1 - SPREAD_STEPS_FRACTION if outside.size else True
    if tolerance.quant_step is not None:
        loose = loose and errors[closest] <= max(SPREAD_STEPS_NEVER, tolerance.steps or 0.0)
    comparison.kernels = KernelSpread(
        spread=spread,
        spread_between=widest,
        spread_fraction=float(np.mean(gaps[widest] > 0)) if first.size else 0.0,
        errors=errors,
        closest=closest,
        within_spread=within,
        unit=" steps" if tolerance.quant_step is not None else "",
    )
    comparison.passed = comparison.passed or within or loose  # never stricter than the plain rule
    return comparison
