"""Benchmark: convert a Keras VGG19 (.h5, weights=None, 224×224) to ONNX against `cp` of the file.

    .venv/bin/python benchmarks/bench_keras_vgg19.py [model.h5] [--repeat 3]

Without a path, a VGG19 is generated once with tf-keras (`applications.VGG19(weights=None)`, a
Keras 2 full-model `.h5` of ~550 MB) into fixtures/cache/keras/vgg19_224.h5. The measurement
(fresh processes, medians, `cp` with and without fsync) is convert_vs_cp.py's.
Goals (issue 11): convert time ≤ 2× `cp`; peak RSS ≤ 0.3× the weights' bytes. The way users do it
today (keras load_model + tf2onnx) was measured by the issue's author: killed by the OOM killer at
23 GB after 136 s; it is not run here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from convert_vs_cp import ROOT, measure

MODEL = ROOT / "fixtures" / "cache" / "keras" / "vgg19_224.h5"

GENERATE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tf_keras
tf_keras.applications.VGG19(weights=None).save(sys.argv[1])
"""


def vgg19_h5() -> Path:
    if not MODEL.exists():
        MODEL.parent.mkdir(parents=True, exist_ok=True)
        partial = MODEL.with_suffix(".partial.h5")
        subprocess.run([sys.executable, "-c", GENERATE, str(partial)], check=True)
        partial.rename(MODEL)
    return MODEL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path, help="a Keras .h5 (default: the generated VGG19)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    return measure(args.model or vgg19_h5(), args.repeat)


if __name__ == "__main__":
    sys.exit(main())
