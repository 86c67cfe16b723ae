"""Convert a model file to ONNX against `cp` of the same file, in one run: the measurement behind
the VGG-19 benchmarks of every format (bench_vgg19_convert.py for MatConvNet, bench_keras_vgg19.py
for Keras).

netinspect's write is atomic and durable (fsync before rename), so `cp` is also timed followed by
an fsync of the copy. Each convert is a fresh Python subprocess that reports its own wall time
(load + save, and with start-up) and peak RSS (VmHWM); `cp` is timed from here. Medians of
`repeat` runs, after one warm-up of each so both read the file from the page cache.
Goals (issues 10 and 11): convert time ≤ 2× `cp`, peak RSS ≤ 0.3× the weights' bytes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONVERT = """
import importlib, json, sys, time
from pathlib import Path
start = time.perf_counter()
import netinspect
for reader in netinspect.registry.readers():  # library start-up: every format's reading code imported
    importlib.import_module(reader.open.partition(":")[0])
ready = time.perf_counter()
companions = {name: Path(path) for name, path in json.loads(sys.argv[3]).items()}
graph = netinspect.load(sys.argv[1], netinspect.LoadOptions(companions=companions))
weights = sum(t.nbytes for t in graph.tensors.values())
netinspect.save_onnx(graph, sys.argv[2])
end = time.perf_counter()
print(json.dumps({"seconds": end - ready, "process": end - start, "weights": weights,
                  "peak": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024}))
"""


def copy(source: Path, target: Path, durable: bool = False) -> float:
    """Seconds for `cp` (with `durable`, also fsync the copy, as netinspect's atomic write does)."""
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if durable:
        fd = os.open(target, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


def run(code: str, source: Path, target: Path, companions: dict[str, Path]) -> dict[str, float]:
    named = json.dumps({name: str(path) for name, path in companions.items()})
    done = subprocess.run(
        [sys.executable, "-c", code, str(source), str(target), named],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    target.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(model: Path, repeat: int = 3, companions: dict[str, Path] | None = None) -> int:
    """Print the figures for `model` (with its companion files, e.g. Caffe's weights), against `cp`
    of the file that holds the weights (the largest); scratch files go beside it (same disk)."""
    companions = companions or {}
    weights_file = max([model, *companions.values()], key=lambda p: p.stat().st_size)
    with tempfile.TemporaryDirectory(dir=weights_file.parent) as tmp:
        out = Path(tmp)
        copy(weights_file, out / "warm")
        run(CONVERT, model, out / "warm.onnx", companions)
        converts = [run(CONVERT, model, out / "model.onnx", companions) for _ in range(repeat)]
        copies = [copy(weights_file, out / "copy") for _ in range(repeat)]
        durable = [copy(weights_file, out / "copy", durable=True) for _ in range(repeat)]
    weights = converts[0]["weights"]
    convert_s = statistics.median(r["seconds"] for r in converts)
    copy_s = statistics.median(copies)
    durable_s = statistics.median(durable)
    convert_peak = statistics.median(r["peak"] for r in converts)
    process_s = statistics.median(r["process"] for r in converts)
    mb = 1 << 20
    size = weights_file.stat().st_size
    print(f"model: {weights_file} ({size / mb:.0f} MiB, weights {weights / mb:.0f} MiB)")
    print(f"convert to ONNX : {convert_s:6.2f} s (load + save), peak RSS {convert_peak / mb:6.0f} MiB")
    print(f"  with start-up : {process_s:6.2f} s (Python, numpy, onnx and every reader imported)")
    print(f"cp              : {copy_s:6.2f} s ({durable_s:.2f} s with fsync of the copy)")
    ratio, with_start = convert_s / copy_s, process_s / copy_s
    print(f"time ratio convert/cp   : {ratio:.2f}  (goal <= 2; with start-up {with_start:.2f})")
    print(f"  against cp + fsync    : {convert_s / durable_s:.2f}  (both files on disk when timing ends)")
    print(f"peak RSS / weight bytes : {convert_peak / weights:.2f}  (goal <= 0.3)")
    return 0
