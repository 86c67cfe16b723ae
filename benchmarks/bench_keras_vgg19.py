"""Benchmark: convert a Keras VGG19 (.h5, weights=None, 224×224) to ONNX against `cp` of the file.

    .venv/bin/python benchmarks/bench_keras_vgg19.py [model.h5] [--repeat 3]

Without a path, a VGG19 is generated once with tf-keras (`applications.VGG19(weights=None)`, a
Keras 2 full-model `.h5` of ~550 MB) into fixtures/cache/keras/vgg19_224.h5. Each convert is a
fresh Python subprocess (netinspect.load + save_onnx) reporting its wall time and peak RSS
(ru_maxrss); `cp` is timed from here. Medians of `--repeat` runs after one warm-up of each, so both
read the file from the page cache.
Goals (issue 11): convert time ≤ 2× `cp`; peak RSS ≤ 0.3× the weights' bytes. The way users do it
today (keras load_model + tf2onnx) was measured by the issue's author: killed by the OOM killer at
23 GB after 136 s; it is not run here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "fixtures" / "cache" / "keras" / "vgg19_224.h5"

GENERATE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras
tf_keras.applications.VGG19(weights=None).save(sys.argv[1])
"""

CONVERT = """
import json, resource, sys, time
start = time.perf_counter()
import netinspect
netinspect.registry.readers()
ready = time.perf_counter()
graph = netinspect.load(sys.argv[1])
weights = sum(t.nbytes for t in graph.tensors.values())
netinspect.save_onnx(graph, sys.argv[2])
end = time.perf_counter()
print(json.dumps({"seconds": end - ready, "process": end - start, "weights": weights,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def vgg19_h5() -> Path:
    if not MODEL.exists():
        MODEL.parent.mkdir(parents=True, exist_ok=True)
        partial = MODEL.with_suffix(".partial.h5")
        subprocess.run([sys.executable, "-c", GENERATE, str(partial)], check=True)
        partial.rename(MODEL)
    return MODEL


def copy(source: Path, target: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


def convert(source: Path, target: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CONVERT, str(source), str(target)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    target.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="a Keras .h5 (default: the generated VGG19)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = args.model or vgg19_h5()
    with tempfile.TemporaryDirectory(dir=MODEL.parent) as tmp:
        out = Path(tmp)
        copy(model, out / "warm.h5")
        convert(model, out / "warm.onnx")
        converts = [convert(model, out / "vgg19.onnx") for _ in range(args.repeat)]
        copies = [copy(model, out / "copy.h5") for _ in range(args.repeat)]
    weights = converts[0]["weights"]
    convert_s = statistics.median(r["seconds"] for r in converts)
    process_s = statistics.median(r["process"] for r in converts)
    peak = statistics.median(r["peak"] for r in converts)
    copy_s = statistics.median(copies)
    mb = 1 << 20
    report = {
        "model": str(model),
        "file_mib": round(model.stat().st_size / mb),
        "weights_mib": round(weights / mb),
        "convert_seconds": round(convert_s, 2),
        "convert_with_startup_seconds": round(process_s, 2),
        "cp_seconds": round(copy_s, 2),
        "time_ratio": round(convert_s / copy_s, 2),
        "peak_rss_mib": round(peak / mb),
        "peak_rss_over_weights": round(peak / weights, 2),
    }
    print(json.dumps(report, indent=1))
    print(f"time ratio convert/cp {report['time_ratio']} (goal <= 2); "
          f"peak RSS / weights {report['peak_rss_over_weights']} (goal <= 0.3)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
