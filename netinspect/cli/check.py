"""The `check` and `diff` commands (registered on the main app by netinspect/cli.py).

Thin: parse, call netinspect.check / netinspect.analysis.diff, print, pick the exit code
(0 within tolerance, 1 mismatch, 2 error: errors are raised as NetinspectError and the main
CLI prints them in one line).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from netinspect.cli.options import reads_model
from netinspect.errors import EXIT_CHECK_FAILED, EXIT_ERROR, NetinspectError
from netinspect.io.files import check_output
from netinspect.registry import LoadOptions

if TYPE_CHECKING:
    from rich.console import Console

    from netinspect.check.result import CheckResult


class LayersMode(StrEnum):
    auto = "auto"
    always = "always"
    never = "never"


class UsageError(NetinspectError):
    """The command line asks for something contradictory."""


def report_console() -> Console:
    """Rich output; CI logs are not terminals but are wide, so tables get 120 columns there, and
    sentences (paths, runtimes, the diverging layer) stay on one line for grep."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    if os.environ.get("COLUMNS"):
        return Console(soft_wrap=True)
    return Console(width=120, soft_wrap=True)


@reads_model
def check_command(
    source: Annotated[
        Path | None, typer.Argument(help="Source model, run in its reference runtime.", show_default=False)
    ] = None,
    target: Annotated[
        Path | None,
        typer.Argument(
            help="Converted ONNX model; omitted: SOURCE is converted in memory.", show_default=False
        ),
    ] = None,
    suite: Annotated[
        Path | None,
        typer.Option("--suite", help="TOML file listing many models to check.", show_default=False),
    ] = None,
    rtol: Annotated[
        float | None, typer.Option("--rtol", help="Relative tolerance (default by dtype: float32 1e-3).")
    ] = None,
    atol: Annotated[
        float | None, typer.Option("--atol", help="Absolute tolerance (default by dtype: float32 1e-4).")
    ] = None,
    quant_steps: Annotated[
        float | None,
        typer.Option("--quant-steps", help="Tolerance for quantized outputs, in steps (default 1)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the random inputs (default 0).", show_default=False)
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option("--runs", help="Number of random input sets (default 1).", min=1, show_default=False),
    ] = None,
    dim: Annotated[
        list[str] | None,
        typer.Option(
            "--dim",
            metavar="NAME=SIZE|INPUT:AXIS=SIZE",
            help="Size of a symbolic dimension, by name or as one axis of one input (repeatable). "
            "Unset: the size the model records, else a default the network accepts (printed).",
        ),
    ] = None,
    input_file: Annotated[
        list[str] | None,
        typer.Option("--input", metavar="NAME=FILE", help="Feed an input from a .npy file (repeatable)."),
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="Feed inputs from a .npz file (keys = input names).")
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Feed an image through the model's recorded preprocessing.")
    ] = None,
    layers: Annotated[
        LayersMode,
        typer.Option("--layers", help="Compare intermediate layers: on mismatch (auto), always, or never."),
    ] = LayersMode.auto,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON (schema: check.schema.json).")
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report for CI.")] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", min=1, help="With --suite: check this many models at once (processes).")
    ] = 1,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="With --suite: check only shard I of N (every N-th model from the I-th), for CI matrices.",
        ),
    ] = None,
    *,
    options: LoadOptions,
) -> None:
    """Prove that a converted model computes what its source computes (exit 0 pass, 1 mismatch, 2 error)."""
    from netinspect.check.api import check
    from netinspect.check.data import parse_dims, parse_input_files
    from netinspect.check.result import CheckResult
    from netinspect.check.suite import Shard, run_suite
    from netinspect.renderers.check_text import print_result, print_summary

    if (suite is None) == (source is None):
        raise UsageError("give either SOURCE [TARGET] or --suite FILE")
    if suite is None and (jobs != 1 or shard is not None):
        raise UsageError("--jobs and --shard split a --suite")
    given = [p for p in (source, target, suite, inputs, image) if p is not None]
    for output in (json_out, junit):
        if output is not None:
            check_output(output, given)
    console = report_console()
    if suite is not None:
        if target is not None or input_file or inputs or image:
            raise UsageError("with --suite, inputs and targets are given per model in the suite file")
        if options != LoadOptions():
            raise UsageError("with --suite, reading options are given per model: read = { config = ... }")
        part = Shard.parse(shard) if shard is not None else None
        results = run_suite(
            suite,
            on_result=lambda r: print_result(r, console),
            jobs=jobs,
            shard=part,
            rtol=rtol,
            atol=atol,
            quant_steps=quant_steps,
            seed=seed,
            runs=runs,
            dims=parse_dims(dim) if dim else None,
            layers=None if layers == LayersMode.auto else layers.value,
        )
        print_summary(results, console)
        _write_reports(results, json_out, junit, f"netinspect check (shard {part})" if part else None)
    else:
        assert source is not None
        try:
            result = check(
                source,
                target,
                options=options,
                rtol=rtol,
                atol=atol,
                quant_steps=quant_steps,
                seed=seed if seed is not None else 0,
                runs=runs if runs is not None else 1,
                dims=parse_dims(dim or []),
                input_files=parse_input_files(input_file or []),
                inputs_npz=inputs,
                image=image,
                layers=layers.value,
            )
        except Exception as e:  # CI uploads the reports either way; the error itself goes to stderr
            _write_reports([CheckResult.from_error(source.stem, source, target, e)], json_out, junit)
            raise
        print_result(result, console)
        results = [result]
        _write_reports(results, json_out, junit)
    if any(r.status == "error" for r in results):
        raise typer.Exit(EXIT_ERROR)
    if not all(r.passed for r in results):
        raise typer.Exit(EXIT_CHECK_FAILED)


def _write_reports(
    results: list[CheckResult], json_out: Path | None, junit: Path | None, junit_name: str | None = None
) -> None:
    from netinspect.renderers.json import write_json
    from netinspect.renderers.junit import write_junit

    if json_out is not None:
        write_json(results, json_out)
    if junit is not None:
        write_junit(results, junit, junit_name or "netinspect check")


@reads_model
def diff_command(
    a: Annotated[Path, typer.Argument(help="First model (any supported format).", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Second model (any supported format).", show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the differences as JSON.")] = False,
    no_weights: Annotated[
        bool, typer.Option("--no-weights", help="Compare the graphs only (default: also every weight).")
    ] = False,
    exit_code: Annotated[
        bool,
        typer.Option("--exit-code", help="Exit with 1 when the models differ (as `git diff --exit-code`)."),
    ] = False,
    *,
    options: LoadOptions,
) -> None:
    """Show how two models differ: nodes added, removed, changed; weight differences.

    The reading options read both models (two weights-only Keras files of one architecture share
    their --config); `--no-weights` only, as a reader's companion file may be called `--weights`."""
    import json

    from netinspect.analysis.diff import diff_files, to_json
    from netinspect.renderers.diff_text import print_diff

    result = diff_files(a, b, weights=not no_weights, options=options)
    if json_out:
        sys.stdout.write(json.dumps(to_json(result), indent=2, allow_nan=False) + "\n")
    else:
        print_diff(result, report_console())
    if exit_code and not result.identical:
        raise typer.Exit(EXIT_CHECK_FAILED)
