"""Benchmark: netinspect vs tf2onnx converting the same Keras .h5 (ResNet50 or MobileNetV2, 224×224).

    .venv/bin/python benchmarks/bench_keras_tf2onnx.py [resnet50|mobilenetv2] [--repeat 1]

The model is generated once with tf-keras (`applications.<Model>(weights=None)`, a Keras 2 `.h5`)
into fixtures/cache/keras/. Both converters run as whole processes in the same run, each timed
from start to exit with its peak RSS (ru_maxrss of the child): netinspect (`netinspect.load` +
`save_onnx`) and the way users do it today: `tf_keras.models.load_model`, a `tf.function` wrapping
the model, `tf2onnx.convert.from_function` (opset 17). Goal (issue 11): netinspect ≥ 10× faster.
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
CACHE = ROOT / "fixtures" / "cache" / "keras"
MODELS = {"resnet50": "ResNet50", "mobilenetv2": "MobileNetV2"}

GENERATE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras
getattr(tf_keras.applications, sys.argv[2])(weights=None).save(sys.argv[1])
"""

NETINSPECT = """
import sys
import netinspect
netinspect.save_onnx(netinspect.load(sys.argv[1]), sys.argv[2])
"""

TF2ONNX = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
import tf_keras
import tf2onnx
model = tf_keras.models.load_model(sys.argv[1], compile=False)
spec = [tf.TensorSpec(t.shape, t.dtype, name=t.name.split(":")[0]) for t in model.inputs]
function = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
tf2onnx.convert.from_function(function, input_signature=spec, opset=17, output_path=sys.argv[2])
"""


def model_path(name: str) -> Path:
    path = CACHE / f"{name.lower()}_224.tfk.h5"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.h5")
        subprocess.run([sys.executable, "-c", GENERATE, str(partial), name], check=True)
        partial.rename(path)
    return path


PEAK = """
import resource
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(code: str, source: Path, target: Path) -> dict[str, float]:
    """Wall time (process start to exit) and peak RSS of one whole converter process."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code + PEAK, str(source), str(target)],
        check=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if not target.exists():
        raise SystemExit(f"{target} was not written")
    target.unlink()
    peak_kib = int(next(line for line in done.stdout.splitlines() if line.startswith("PEAK")).split()[1])
    return {"seconds": seconds, "peak_mib": peak_kib / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="resnet50", choices=sorted(MODELS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    source = model_path(MODELS[args.model])
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        out = Path(tmp)
        ours = [measure(NETINSPECT, source, out / "ours.onnx") for _ in range(args.repeat)]
        theirs = [measure(TF2ONNX, source, out / "tf2onnx.onnx") for _ in range(args.repeat)]
    ours_s = statistics.median(r["seconds"] for r in ours)
    theirs_s = statistics.median(r["seconds"] for r in theirs)
    report = {
        "model": str(source),
        "netinspect_seconds": round(ours_s, 2),
        "netinspect_peak_rss_mib": round(ours[0]["peak_mib"]),
        "tf2onnx_seconds": round(theirs_s, 2),
        "tf2onnx_peak_rss_mib": round(theirs[0]["peak_mib"]),
        "speedup": round(theirs_s / ours_s, 1),
    }
    print(json.dumps(report, indent=1))
    print(f"netinspect is {report['speedup']}x faster than tf2onnx (goal >= 10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
