"""The architecture, guarded: imports go one way, and the CLI starts without the heavy runtimes.

Data flows file → reader → IR → layout pass → writer or renderer. So the core (IR, builder,
registry, layout, walk) imports no converter, renderer, runtime or CLI; a converter imports no
renderer and no runtime; a renderer imports no converter; and `import netinspect.cli` loads none of
onnxruntime, scipy, h5py or tensorflow, so `netinspect --help` and `info` on a small file stay fast.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"netinspect": ROOT / "netinspect", "netinspect.converters": ROOT / "converters",
            "netinspect.renderers": ROOT / "renderers"}  # fmt: skip

CORE = ("netinspect.ir", "netinspect.build", "netinspect.registry", "netinspect.layout", "netinspect.walk",
        "netinspect.errors", "netinspect.io.files", "netinspect.protowire")  # fmt: skip
SMALL_MODEL = ROOT / "fixtures" / "matconvnet" / "simplenn_beta11.mat"

def _readers() -> list:
    from netinspect.registry import readers

    return readers()


RUNTIMES = ("netinspect.check.runtimes", *sorted({p for r in _readers() for p in r.runtime.packages}))
"""The check runtimes and the packages they run on, as the readers declare them (Runtime.packages)."""


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions (lazy imports count too)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(prefixes: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for module, path in modules().items():
        if not module.startswith(prefixes):
            continue
        for name in imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{module} imports {name}")
    return sorted(bad)


def test_the_core_imports_no_converter_renderer_runtime_or_cli() -> None:
    forbidden = ("netinspect.converters", "netinspect.renderers", "netinspect.cli", *RUNTIMES)
    assert violations(CORE, forbidden) == []


def test_converters_import_no_renderer_and_no_runtime() -> None:
    assert violations(("netinspect.converters",), ("netinspect.renderers", "netinspect.cli", *RUNTIMES)) == []


def test_renderers_import_no_converter() -> None:
    assert violations(("netinspect.renderers",), ("netinspect.converters", "netinspect.cli", *RUNTIMES)) == []


def test_reference_runtimes_share_no_code_with_converters() -> None:
    """A reference runtime checks a converter, so it must not reuse it (onnxruntime runs the result)."""
    references = tuple(
        m for m in modules() if m.startswith("netinspect.check.runtimes.")
        and m.split(".")[3] not in ("base", "onnxruntime")
    )  # fmt: skip
    assert references, "no reference runtime found"
    assert violations(references, ("netinspect.converters",)) == []


@pytest.mark.parametrize("heavy", ["onnxruntime", "scipy", "h5py", "tensorflow", "cv2"])
def test_importing_the_cli_loads_no_heavy_library(heavy: str) -> None:
    code = f"import sys, json, netinspect.cli; print(json.dumps({heavy!r} in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_a_convert_loads_no_table_or_validation_library(tmp_path: Path) -> None:
    """A CLI's start-up is paid on every command: `convert` prints one line, so it needs neither
    rich (tables) nor pydantic (which typer 0.29 brought in to parse arguments; pinned below it)."""
    code = (
        "import sys, json\n"
        "from netinspect.cli.app import main\n"
        f"sys.argv = ['netinspect', 'convert', {str(SMALL_MODEL)!r}, '-o', {str(tmp_path / 'out.onnx')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(json.dumps(sorted(m for m in ('rich', 'pydantic') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []


def test_readers_are_found_through_the_entry_point_group() -> None:
    from netinspect import registry

    # as entry_points(group="netinspect.readers") gives them, but read from every distribution: a stale
    # netinspect.egg-info in the checkout may come first (tests/test_packaging.py asserts the plain
    # call in a fresh venv)
    names = {entry.name for entry in registry._reader_entry_points()}
    assert {"onnx", "keras", "tflite", "matconvnet"} <= names
    assert {reader.name for reader in _readers()} == names
    assert not hasattr(registry, "READER_MODULES")
    priorities = [reader.priority for reader in _readers()]
    assert priorities == sorted(priorities) and len(set(priorities)) == len(priorities)


def test_detecting_a_file_imports_no_format_reading_code() -> None:
    """Every reader's `match` lives in its package's light `__init__`: detection imports no reader
    module and no format library; reading imports the matched reader only."""
    code = (
        "import sys, json\n"
        "from netinspect import registry\n"
        f"reader, tag, probe = registry.detect({str(SMALL_MODEL)!r})\n"
        "readers = lambda: sorted(m for m in sys.modules if m.startswith('netinspect.converters.')"
        " and m.endswith('.reader'))\n"
        "detected = readers()\n"
        "registry.open_detected(reader, tag, probe)\n"
        "print(json.dumps([detected, readers(), 'onnx' in sys.modules, 'h5py' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    detected, read, onnx_loaded, h5py_loaded = json.loads(out.stdout.splitlines()[-1])
    assert detected == []
    assert read == ["netinspect.converters.matconvnet.reader"]
    assert not onnx_loaded and not h5py_loaded


def _named_formats(path: Path, formats: set[str]) -> set[str]:
    """The formats a module names in code (docstrings and comments aside): a string equal to a
    format's name, or a reference to its package netinspect.converters.<format>."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }  # fmt: skip
    named = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            named |= {f for f in formats if node.value == f or f"converters.{f}" in node.value}
    named |= {f for name in imports(path) for f in formats if name.startswith(f"netinspect.converters.{f}")}
    return named


def test_a_new_format_touches_its_folder_its_runtime_module_and_one_entry_point() -> None:
    """No list of formats outside the formats' own folders: not in the core, the CLI, `check` or the
    renderers (each format is a reader entry point; its runtime module is named by its Reader), and
    not in the packaging (setup.py derives the package list from the folders). ONNX, the format
    everything is converted to, is exempt."""
    import tomllib

    formats = {reader.name for reader in _readers()} - {"onnx"}
    runtime_modules = {r.runtime.module for r in _readers() if r.name in formats}
    helpers = {  # a runtime module may split its work (Keras: keras1_reference)
        name for m in runtime_modules for name in imports(modules()[m])
        if name.startswith("netinspect.check.runtimes.") and name.split(".")[3] != "base"
    }  # fmt: skip
    own = (*runtime_modules, *helpers)
    found = {
        module: sorted(named)
        for module, path in modules().items()
        if not module.startswith(("netinspect.converters.", *own))
        and (named := _named_formats(path, formats))
    }
    assert found == {}
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "packages" not in setuptools, "the package list is derived from the folders (setup.py)"
    assert "READER_MODULES" not in (ROOT / "netinspect" / "registry.py").read_text()


def test_every_package_folder_is_packaged() -> None:
    """setup.py derives the package list from pyproject's package-dir folders: none forgotten."""
    folders = set()
    for package, folder in PACKAGES.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            folders.add(".".join((package, *parts)))
    out = subprocess.run(
        [sys.executable, "-c", "import runpy, setuptools, json, sys\n"
         "setuptools.setup = lambda **kw: print(json.dumps(kw['packages']))\n"
         "runpy.run_path('setup.py')"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    packaged = set(json.loads(out.stdout))
    assert folders - packaged == set()
    assert {"netinspect.schemas", "netinspect.renderers.html.assets"} <= packaged  # package-data folders


def test_threads_and_file_tricks_live_only_in_netinspect_io() -> None:
    """One home for the I/O tricks: every thread, memory map and kernel copy goes through
    netinspect.io, so a speed-up never spreads into readers, writers, the layout rule or check.
    (`check --jobs` runs models in worker processes: that is parallel work, not an I/O trick.)"""
    tricks = ("threading", "concurrent.futures.ThreadPoolExecutor", "mmap", "ctypes")
    calls = ("os.preadv(", "os.pwrite(", "os.copy_file_range(", "sync_file_range")
    found = []
    for module, path in modules().items():
        if module == "netinspect.io" or module.startswith("netinspect.io."):
            continue
        found += [f"{module} imports {name}" for name in imports(path)
                  if any(name == t or name.startswith(t + ".") for t in tricks)]  # fmt: skip
        text = path.read_text()
        found += [f"{module} calls {call}" for call in calls if call in text]
    assert found == []
