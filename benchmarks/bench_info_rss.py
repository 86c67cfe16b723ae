"""Peak memory of `netinspect info` on a 1 GiB ONNX model, against two baselines in the same run.

Target (issue 3): info on a 1 GB model stays under 200 MB peak RSS, i.e. it reads no weight
bytes. Baselines: the interpreter importing netinspect's CLI (the floor), and `onnx.load` of the
same file (what a naive reader costs). Each command runs in a fresh child; peak RSS is the
child's ru_maxrss. Run: .venv/bin/python benchmarks/bench_info_rss.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from netinspect.converters.onnx.writer import save
from netinspect.ir import Graph, Node, Tensor, Value

SIDE = 4096  # a 4096x4096 float32 MatMul weight is 64 MiB


def make_model(path: Path, size_mib: int) -> None:
    layers = max(1, size_mib // 64)
    tensors, nodes, current = {}, [], "x"
    for i in range(layers):
        name = f"w{i}"
        tensors[name] = Tensor(
            name,
            "float32",
            (SIDE, SIDE),
            loader=lambda i=i: np.full((SIDE, SIDE), 1e-4 * (i + 1), np.float32),
        )
        nodes.append(Node(f"matmul{i}", "MatMul", [current, name], [f"y{i}"]))
        current = f"y{i}"
    graph = Graph(
        "big", [Value("x", "float32", ("N", SIDE))], [Value(current, "float32", ("N", SIDE))], nodes, tensors
    )
    save(graph, path)


def peak_rss_mib(command: list[str]) -> tuple[float, float]:
    """Run a command in a grandchild so ru_maxrss of RUSAGE_CHILDREN is that command's alone."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(peak, time.perf_counter() - t, r.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True
    ).stdout
    rss, seconds, code = out.split()
    if code != "0":
        raise SystemExit(f"{command} failed with exit code {code}")
    return float(rss), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.onnx"
        t = time.perf_counter()
        make_model(path, args.size_mib)
        print(f"model: {path.stat().st_size / 2**20:.0f} MiB, streamed in {time.perf_counter() - t:.1f} s")
        floor, _ = peak_rss_mib(
            [sys.executable, "-c", "import netinspect.cli, netinspect.analysis.summary, onnx"]
        )
        naive, naive_s = peak_rss_mib([sys.executable, "-c", f"import onnx; onnx.load({str(path)!r})"])
        info, info_s = peak_rss_mib([sys.executable, "-m", "netinspect", "info", str(path)])
        print(f"import floor      : {floor:7.1f} MiB")
        print(f"onnx.load baseline: {naive:7.1f} MiB  {naive_s:5.2f} s")
        print(f"netinspect info   : {info:7.1f} MiB  {info_s:5.2f} s")
        print(f"info / onnx.load  : {info / naive:.3f}   info - import floor: {info - floor:.1f} MiB")
        print(f"target: info < 200 MiB -> {'met' if info < 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
