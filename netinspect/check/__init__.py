"""Parity checking: runners, seeded inputs, comparison, first divergence, reports.

The package is also the Python API of `netinspect check --json`: `netinspect.check(source,
target=None, options=LoadOptions(...), rtol=..., atol=..., ...)` runs the check and returns the
report `check --json` writes, as a dict (schema: netinspect/schemas/check.schema.json). Calling the
package keeps `netinspect.check.api` and friends importable under the same name.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netinspect.registry import LoadOptions


class _CallableCheck(types.ModuleType):
    """`netinspect.check(...)`: this package, callable."""

    def __call__(
        self,
        source: str | Path,
        target: str | Path | None = None,
        *,
        options: LoadOptions | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        """Check that TARGET (an ONNX file; SOURCE converted in memory when omitted) computes SOURCE,
        read with `options` (as `convert` reads it); `settings` are `netinspect.check.api.check`'s
        (rtol, atol, quant_steps, seed, runs, dims, input_files, image, layers...). Returns what
        `check --json` writes; a file that cannot be read raises NetinspectError, as the CLI exits 2."""
        from netinspect.check.api import check
        from netinspect.renderers.json import to_json

        return to_json([check(source, target, options=options, **settings)])


sys.modules[__name__].__class__ = _CallableCheck
