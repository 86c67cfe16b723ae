"""Every command starts fast: which modules a command imports, guarded (no wall-clock assertions).

`import onnx` costs more than the rest of a small `info` (it imports ml_dtypes, whose 0.7.0
extension initialises in 0.58 s; benchmarks/bench_cli_latency.py measures the commands), so a
command that does not need onnx must not import it, and telling a file's format imports no
converter of another format.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAT = ROOT / "fixtures" / "matconvnet" / "simplenn_beta17.mat"


def _detection_modules() -> set[str]:
    """The netinspect.converters modules that loading every reader's declaration imports (each
    format's `detect` module and the light helpers it reads the head bytes with)."""
    code = (
        "import sys, json\n"
        "from netinspect.registry import readers\n"
        "readers()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('netinspect.converters'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


DETECTION = _detection_modules()


def test_detection_loads_only_detect_modules_and_no_format_library() -> None:
    heavy = [m for m in DETECTION if m.rsplit(".", 1)[-1] in ("reader", "layers", "files", "matfile")]
    assert heavy == []
    builtin = ("onnx", "tflite", "matconvnet", "keras")
    assert {f"netinspect.converters.{f}.detect" for f in builtin} <= DETECTION


def loaded_after(argv: list[str], prefixes: tuple[str, ...]) -> list[str]:
    """The modules under `prefixes` loaded by one `netinspect` command run in a fresh interpreter."""
    code = (
        "import sys, json\n"
        "from netinspect.cli.app import main\n"
        f"code = main({argv!r})\n"
        "assert code == 0, code\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def top_level(modules: list[str]) -> set[str]:
    return {m for m in modules if "." not in m or m.startswith("google.protobuf")}


def test_info_of_a_matconvnet_model_imports_no_onnx() -> None:
    loaded = loaded_after(["info", str(MAT)], ("onnx", "ml_dtypes", "google"))
    assert top_level(loaded) == set(), loaded


def test_info_imports_no_converter_of_another_format() -> None:
    loaded = loaded_after(["info", str(MAT)], ("netinspect.converters",))
    assert loaded, "the MatConvNet reader was not imported through netinspect.converters"
    own = "netinspect.converters.matconvnet"
    others = [m for m in loaded if m not in DETECTION and not m.startswith(own)]
    assert others == []


def test_detecting_any_format_imports_only_the_detectors() -> None:
    """Telling a file's format reads its head bytes: no reader, no onnx, no h5py, no tflite."""
    code = (
        "import sys, json\n"
        "from netinspect.registry import detect\n"
        f"reader, tag, _ = detect({str(MAT)!r})\n"
        "print(json.dumps([reader.name, sorted(m for m in sys.modules if m.startswith("
        "('netinspect.converters', 'onnx', 'h5py', 'tflite', 'ml_dtypes')))]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    name, loaded = json.loads(out.stdout.splitlines()[-1])
    assert name == "matconvnet"
    assert set(loaded) <= DETECTION, sorted(set(loaded) - DETECTION)


def test_drawing_a_matconvnet_model_imports_no_onnx_once_its_schemas_are_cached(tmp_path: Path) -> None:
    """The page and the diagram read the operator schemas from the per-user cache, which the first
    run fills from onnx; later runs (the cache is per onnx version) import no onnx."""
    code = (
        "import os, sys, json\n"
        f"os.environ['XDG_CACHE_HOME'] = {str(tmp_path / 'cache')!r}\n"
        "from netinspect.cli.app import main\n"
        f"assert main(['view', {str(MAT)!r}, '-o', {str(tmp_path / 'page.html')!r}]) == 0\n"
        f"assert main(['view', {str(MAT)!r}, '-o', {str(tmp_path / 'graph.dot')!r}]) == 0\n"
        "print(json.dumps('onnx' in sys.modules))"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            for _ in range(2)]  # fmt: skip
    assert [json.loads(run.stdout.splitlines()[-1]) for run in runs] == [True, False]
    assert list((tmp_path / "cache" / "netinspect" / "onnx-schemas").glob("*.json"))


def test_info_and_view_import_neither_importlib_metadata_nor_the_browser(tmp_path: Path) -> None:
    """Entry points and the onnx version are read from the metadata folders (netinspect.entry_points);
    `view -o` needs no browser or HTTP server."""
    prefixes = ("importlib.metadata", "email", "webbrowser", "http.server")
    assert loaded_after(["info", str(MAT)], prefixes) == []
    assert loaded_after(["view", str(MAT), "-o", str(tmp_path / "page.html")], prefixes) == []


def test_reading_a_tflite_model_imports_only_the_schema_modules_it_reads() -> None:
    """The `tflite` package's __init__ imports all ~190 generated modules; the reader imports the few
    tables the file holds (converters/tflite/schema.py)."""
    from tests.converters.tflite.conftest import tflite_fixture

    loaded = loaded_after(["info", str(tflite_fixture("conv"))], ("tflite.",))
    assert "tflite.Model" in loaded and "tflite.Conv2DOptions" in loaded
    assert len(loaded) < 30, loaded
