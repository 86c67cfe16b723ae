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
from types import ModuleType

import pytest

from tests.conftest import fixture_generator


def tflite_fixture(name: str, mode: str = "float32") -> Path:
    """The cached .tflite for model `name` in quantization `mode`, generated when missing."""
    generator = fixture_generator("tflite/make_tflite.py")
    return _generated(generator, generator.cached_path(name, mode), ["--tests", f"{name}:{mode}"])


def exact_fixture(name: str) -> Path:
    """A model of fixtures/tflite/make_exact.py (legacy uint8 from TF1's converter on a fake-quantized
    graph, or int8 with float I/O), cached in fixtures/cache/tflite/, generated in a subprocess when
    missing."""
    generator = fixture_generator("tflite/make_exact.py")
    return _generated(generator, generator.cached_path(name), [name])


def _generated(generator: ModuleType, path: Path, arguments: list[str]) -> Path:
    """`path`, made by running the generator script with `arguments` in a subprocess (TensorFlow
    stays out of the test process) under a lock in its cache folder, when it does not exist yet."""
    if path.exists():
        return path
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("generating TFLite fixtures needs tensorflow (pip install 'netinspect[keras]')")
    generator.CACHE.mkdir(parents=True, exist_ok=True)
    with (generator.CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
            command = [sys.executable, str(generator.__file__), *arguments]
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"generating {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")
    return path
