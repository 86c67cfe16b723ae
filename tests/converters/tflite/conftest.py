"""TFLite fixtures: made by TensorFlow's converter in a subprocess (fixtures/tflite/make_tflite.py),
cached in fixtures/cache/tflite/ keyed by the generator's hash, under a lock so parallel workers
generate each file once. The test process itself never imports TensorFlow."""

from __future__ import annotations

import fcntl
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fixture_generator

ROOT = Path(__file__).resolve().parents[3]
GENERATOR = ROOT / "fixtures" / "tflite" / "make_tflite.py"


def tflite_fixture(name: str, mode: str = "float32") -> Path:
    """The cached .tflite for model `name` in quantization `mode`, generated when missing."""
    generator = fixture_generator("tflite/make_tflite.py")
    path = generator.cached_path(name, mode)
    if path.exists():
        return path
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("generating TFLite fixtures needs tensorflow (pip install 'netinspect[keras]')")
    generator.CACHE.mkdir(parents=True, exist_ok=True)
    with (generator.CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
            done = subprocess.run(
                [sys.executable, str(GENERATOR), "--tests", f"{name}:{mode}"],
                capture_output=True,
                text=True,
                env=env,
            )
            if done.returncode != 0:
                raise RuntimeError(f"generating {name}:{mode} failed:\n{done.stderr[-3000:]}")
    return path


def exact_fixture(name: str) -> Path:
    """A model of fixtures/tflite/make_exact.py (legacy uint8 from TF1's converter on a fake-quantized
    graph, or int8 with float I/O), cached in fixtures/cache/tflite/, generated in a subprocess when
    missing."""
    generator = fixture_generator("tflite/make_exact.py")
    path = generator.cached_path(name)
    if path.exists():
        return path
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("generating TFLite fixtures needs tensorflow (pip install 'netinspect[keras]')")
    generator.CACHE.mkdir(parents=True, exist_ok=True)
    with (generator.CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
            script = generator.__file__
            done = subprocess.run([sys.executable, script, name], capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"generating {name} failed:\n{done.stderr[-3000:]}")
    return path
