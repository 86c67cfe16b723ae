"""`check --junit`: the report for CI.

One testsuite per model and one testcase per model output, so CI systems show which output of
which model failed, with the figures in the failure message; a model that could not be checked
is one testcase with an error.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from netinspect.check.result import CheckResult, OutputResult
from netinspect.io.files import atomic_write


def _failure_text(result: CheckResult, output: OutputResult) -> str:
    """Every failing run's figures, then where the mismatch starts."""
    several = len(output.runs) > 1
    lines = [
        c.summary() + (f" [run {i}]" if several else "") for i, c in enumerate(output.runs) if not c.passed
    ]
    lines.append(divergence_sentence(result))
    return "\n".join(line for line in lines if line)


def divergence_sentence(result: CheckResult) -> str:
    """Where the mismatch starts, in one paragraph (JUnit failure bodies, terminal)."""
    search = result.layers
    if search is None:
        return ""
    if search.divergence is None:
        if result.passed:
            return f"all {len(search.checks)} compared layers are within tolerance"
        return (
            f"no paired layer leaves tolerance ({len(search.checks)} compared); the difference arises in "
            "layers the conversion has no counterpart for"
            + (f": {', '.join(result.unmatched_layers[-5:])}" if result.unmatched_layers else "")
        )
    d = search.divergence
    previous = search.last_passing
    figures = d.comparison.summary(with_name=False)
    text = f"first diverging layer: {d.pair.layer} ({d.pair.layer_type}) — {figures}"
    if previous is not None:
        text += f"; last matching layer: {previous.pair.layer}"
    if d.pair.steps:
        text += "; its conversion steps: " + "; ".join(f"{s.kind}: {s.text}" for s in d.pair.steps)
    return text


def to_junit(results: Sequence[CheckResult], name: str = "netinspect check") -> ET.Element:
    root = ET.Element("testsuites", name=name)
    total = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    for result in results:
        seconds = result.timings.get("total", 0.0)
        total_time += seconds
        suite = ET.SubElement(root, "testsuite", name=result.name, timestamp=stamp, hostname=platform.node())
        properties = ET.SubElement(suite, "properties")
        for key, value in (
            ("source", result.source.path or ""),
            ("source_runtime", result.source.runtime),
            ("target", result.target.path or "converted in memory"),
            ("target_runtime", result.target.runtime),
            ("inputs", inputs_text(result)),
            ("sizes_chosen", ", ".join(result.inputs.chosen) if result.inputs is not None else ""),
        ):
            ET.SubElement(properties, "property", name=key, value=value)
        classname = f"netinspect.check.{result.name}"
        tests = failures = errors = 0
        if result.error is not None:
            case = ET.SubElement(suite, "testcase", name="check", classname=classname, time=f"{seconds:.3f}")
            error = ET.SubElement(case, "error", message=result.error, type="NetinspectError")
            error.text = result.error
            tests, errors = 1, 1
        per_case = seconds / max(1, len(result.outputs))
        for output in result.outputs:
            case = ET.SubElement(
                suite, "testcase", name=output.name, classname=classname, time=f"{per_case:.3f}"
            )
            tests += 1
            if not output.passed:
                failures += 1
                failure = ET.SubElement(
                    case, "failure", message=output.worst.summary(), type="ToleranceExceeded"
                )
                failure.text = _failure_text(result, output)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("time", f"{seconds:.3f}")
        total["tests"] += tests
        total["failures"] += failures
        total["errors"] += errors
    for key, value in total.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    return root


def inputs_text(result: CheckResult) -> str:
    inputs = result.inputs
    if inputs is None:
        return ""
    shapes = ", ".join(f"{name} {tuple(shape)}" for name, shape in inputs.shapes.items())
    if inputs.kind == "random":
        return f"random, seed {inputs.seed}, {inputs.runs} run(s): {shapes}"
    return f"{inputs.kind}: " + ", ".join(f"{k}={v}" for k, v in inputs.files.items())


def write_junit(results: Sequence[CheckResult], path: Path, name: str = "netinspect check") -> None:
    tree = ET.ElementTree(to_junit(results, name))
    ET.indent(tree)
    with atomic_write(path) as f:
        tree.write(f, encoding="utf-8", xml_declaration=True)
