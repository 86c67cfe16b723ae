"""What a parity check found: plain data (picklable, for check --jobs), returned by `check()` and
rendered by netinspect.renderers (check_text, json, junit)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netinspect.check.compare import Comparison, Tolerance
from netinspect.check.data import FeedPlan
from netinspect.check.divergence import LayerSearch
from netinspect.errors import NetinspectError


@dataclass
class ModelSide:
    """One of the two models: where it came from and which runtime ran it."""

    path: str | None
    format: str
    runtime: str
    converted_in_memory: bool = False


@dataclass
class OutputResult:
    """One model output over every run; its figures are the worst over the runs."""

    name: str
    target_name: str
    runs: list[Comparison]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.runs)

    @property
    def failed_runs(self) -> list[int]:
        return [i for i, c in enumerate(self.runs) if not c.passed]

    @property
    def worst(self) -> Comparison:
        """The run to show: the first failing one, else the one with the largest error."""
        failing = [c for c in self.runs if not c.passed]
        if failing:
            return failing[0]
        return max(self.runs, key=lambda c: c.max_abs_error)

    @property
    def tolerance(self) -> Tolerance:
        return self.runs[0].tolerance

    def aggregate(self) -> dict[str, float | int | None]:
        """Worst-case figures over all runs: max errors, min cosine, summed outside counts."""
        comparable = [c for c in self.runs if not math.isnan(c.max_abs_error)]  # NaN: shapes did not match
        if not comparable:
            return {k: None for k in _FIGURES}
        size = sum(c.size for c in comparable)
        outside = sum(c.outside_count for c in comparable)
        tops1 = [c.top1_agreement for c in comparable if c.top1_agreement is not None]
        tops5 = [c.top5_agreement for c in comparable if c.top5_agreement is not None]
        steps = [c.max_error_steps for c in comparable if c.max_error_steps is not None]
        return {
            "max_abs_error": max(c.max_abs_error for c in comparable),
            "max_rel_error": max(c.max_rel_error for c in comparable),
            "mean_abs_error": sum(c.mean_abs_error * c.size for c in comparable) / size if size else 0.0,
            "cosine_similarity": min(c.cosine_similarity for c in comparable),
            "outside_count": outside,
            "outside_fraction": outside / size if size else 0.0,
            "top1_agreement": sum(tops1) / len(tops1) if tops1 else None,
            "top5_agreement": sum(tops5) / len(tops5) if tops5 else None,
            "max_error_steps": max(steps) if steps else None,
        }


_FIGURES = (
    "max_abs_error",
    "max_rel_error",
    "mean_abs_error",
    "cosine_similarity",
    "outside_count",
    "outside_fraction",
    "top1_agreement",
    "top5_agreement",
    "max_error_steps",
)


@dataclass
class CheckResult:
    """The outcome of checking one model: per-output figures and, on mismatch, where it starts."""

    name: str
    source: ModelSide
    target: ModelSide
    inputs: FeedPlan | None = None
    outputs: list[OutputResult] = field(default_factory=list)
    layers: LayerSearch | None = None
    layer_run: int | None = None
    """Which run's feeds the layer comparison used."""
    unmatched_layers: list[str] = field(default_factory=list)
    """Source layers with no counterpart in the converted model (removed by the conversion)."""
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    """Set when the check could not be carried out (suite runs keep going and report it)."""

    @classmethod
    def from_error(
        cls, name: str, source: str | Path, target: str | Path | None, error: BaseException
    ) -> CheckResult:
        """A check that could not be carried out: bad file, missing runtime, or a bug of ours
        (reported as an internal error, so a suite still finishes and writes its reports)."""
        message = (
            str(error)
            if isinstance(error, NetinspectError)
            else (f"internal error: {type(error).__name__}: {error}")
        )
        return cls(
            name=name,
            source=ModelSide(str(source), "unknown", "none"),
            target=ModelSide(
                str(target) if target else None, "onnx", "none", converted_in_memory=target is None
            ),
            error=message,
        )

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.outputs) and all(o.passed for o in self.outputs)

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "passed" if self.passed else "failed"


def counts(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many models passed, failed, and could not be checked."""
    return {
        "models": len(results),
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "errors": sum(r.status == "error" for r in results),
    }
