"""Parity as a pytest assertion: `assert_parity(source, target=None, ...)` passes when the converted
model computes what its source computes, and otherwise fails the test with what `check` found —
the outputs out of tolerance and the first diverging layer, with the conversion steps of that layer.

    from netinspect.testing import assert_parity

    def test_my_model_converts():
        assert_parity("model.h5", "model.onnx", rtol=1e-4)

No pytest import: a plain AssertionError is what pytest reports as a failed test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netinspect.registry import LoadOptions


def assert_parity(
    source: str | Path,
    target: str | Path | None = None,
    *,
    options: LoadOptions | None = None,
    **settings: Any,
) -> None:
    """Raise AssertionError unless TARGET (SOURCE converted in memory when omitted) matches SOURCE.

    `options` read the models as for `convert` (companion files, backend, input shapes);
    `settings` are `netinspect.check`'s (rtol, atol, quant_steps, seed, runs, dims, image...).
    On a mismatch the intermediate layers are compared, so the message names where it starts."""
    from netinspect.check.api import check
    from netinspect.renderers.junit import divergence_sentence

    settings.setdefault("layers", "auto")
    result = check(source, target, options=options, **settings)
    if result.passed:
        return
    against = target if target is not None else "its conversion"
    failing = [o.worst.summary() for o in result.outputs if not o.passed]
    lines = [f"{source} does not match {against} (source run by {result.source.runtime})"]
    lines += [f"  output {line}" for line in failing]
    where = divergence_sentence(result)
    if where:
        lines.append(f"  {where}")
    raise AssertionError("\n".join(lines))
