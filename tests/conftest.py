"""Shared test helpers: where the real models are, and running the CLI in-process."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import onnx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MODELS = ROOT.parent / "shared" / "models"
FIXTURES = ROOT / "fixtures"
ONNX_TEST_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"


def fixture_generator(relative: str) -> ModuleType:
    """A fixture-generating script under fixtures/ (e.g. "keras/make_keras1.py") as a module, loaded
    once per test process. It is registered in sys.modules under its file stem, since dataclasses
    look their module up while a class is built."""
    path = FIXTURES / relative
    name = path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def vgg19_mat() -> Path:
    """The full-size VGG-19 lookalike, generated once into fixtures/cache/ by fixtures/make_vgg19.py."""
    return fixture_generator("make_vgg19.py").vgg19_path()


def shared_model(name: str) -> Path:
    """A real model made by others, from ../shared/models; the test skips where it is absent."""
    path = SHARED_MODELS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the real-model folder ../shared/models is not beside this checkout)")
    return path


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `netinspect ARGS...` in this process and capture what it prints."""
    from netinspect.cli.app import main

    def run(*args: str | os.PathLike) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
