"""Benchmark: how long `info`, `view -o` and `convert` take on a small model, whole process, in one run.

    .venv/bin/python benchmarks/bench_cli_latency.py [--repeat 7] [FILE ...]

Each command is a fresh `netinspect` process, as a user runs it, with bytecode cached (as after a
pip install: one warm-up run compiles it). The floor is `python -c "import numpy"` in the same run:
netinspect cannot start faster than numpy imports, and the ratio is what survives a noisy machine.
Goal (issue 19): each command ≤ 0.3 s, against ~0.12 s for the floor on a quiet machine.

Without files: the committed MatConvNet fixture (fixtures/matconvnet/simplenn_beta17.mat) and the
ONNX file netinspect converts it to, plus the small TFLite fixture if fixtures/cache has it.
Also reports which heavy modules each command imported (`-X importtime`), so a regression names its
cause: onnx (and through it ml_dtypes), onnxruntime, TensorFlow, h5py, scipy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETINSPECT = [str(Path(sys.executable).parent / "netinspect")]  # the console script pip installs
HEAVY = ("onnx", "ml_dtypes", "onnxruntime", "tensorflow", "h5py", "scipy", "tflite", "graphviz")


def environment() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # cached bytecode, as after pip install
    return env


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process; CPU time is what a busy machine distorts least."""
    start = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment(), cwd=ROOT
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime


def heavy_imports(command: list[str]) -> list[str]:
    """The heavy top-level packages a command imports (from `python -X importtime`)."""
    env = {**environment(), "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(command, capture_output=True, env=env, cwd=ROOT)
    found = set()
    for line in done.stderr.decode(errors="replace").splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name.split(".")[0] in HEAVY:
            found.add(name.split(".")[0])
    return sorted(found)


def median(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds over `repeat` runs, after a warm-up that compiles bytecode."""
    run_once(command)
    runs = [run_once(command) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def default_models(scratch: Path) -> list[Path]:
    mat = ROOT / "fixtures" / "matconvnet" / "simplenn_beta17.mat"
    onnx_file = scratch / "simplenn_beta17.onnx"
    run_once([*NETINSPECT, "convert", str(mat), "-o", str(onnx_file)])
    models = [mat, onnx_file]
    models += sorted((ROOT / "fixtures" / "cache" / "tflite").glob("conv-float32-*.tflite"))[:1]
    return models


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        models = args.models or default_models(scratch)
        floor_command = [sys.executable, "-c", "import numpy"]
        floor, floor_cpu = median(floor_command, args.repeat)
        print(f"floor: python -c 'import numpy'  {floor:.3f} s wall, {floor_cpu:.3f} s CPU", end="")
        print(f" (medians of {args.repeat})")
        header = f"{'model':34} {'command':8} {'wall s':>7} {'× floor':>8} {'CPU s':>7} {'× floor':>8}"
        print(f"{header}  heavy imports")
        for model in models:
            commands = {
                "info": [*NETINSPECT, "info", str(model)],
                "view": [*NETINSPECT, "view", str(model), "-o", str(scratch / "page.html")],
                "convert": [*NETINSPECT, "convert", str(model), "-o", str(scratch / "out.onnx")],
            }
            for name, command in commands.items():
                wall, cpu = median(command, args.repeat)
                heavy = ", ".join(heavy_imports(command)) or "-"
                print(
                    f"{model.name[:34]:34} {name:8} {wall:7.3f} {wall / floor:8.2f} "
                    f"{cpu:7.3f} {cpu / floor_cpu:8.2f}  {heavy}"
                )


if __name__ == "__main__":
    main()
