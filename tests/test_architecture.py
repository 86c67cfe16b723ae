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
        "netinspect.errors", "netinspect.io.files")  # fmt: skip
SMALL_MODEL = ROOT / "fixtures" / "matconvnet" / "simplenn_beta11.mat"
RUNTIMES = ("netinspect.check.runtimes", "onnxruntime", "tensorflow", "tf_keras", "keras", "ai_edge_litert",
            "cv2")  # fmt: skip


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


def test_every_package_folder_is_packaged() -> None:
    """pyproject lists packages explicitly (two folders are mapped under netinspect.): none forgotten."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = set()
    for package, folder in PACKAGES.items():
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            folders.add(".".join((package, *parts)))
    assert folders - listed == set()
