"""What every command that reads a model accepts, turned into `registry.LoadOptions` in one place."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import typer

from netinspect import registry
from netinspect.errors import NetinspectError
from netinspect.ir import Graph

ModelArg = Annotated[
    Path, typer.Argument(help="Model file (format detected from its content).", show_default=False)
]


class Backend(StrEnum):
    theano = "theano"
    tensorflow = "tensorflow"


KeepNhwc = Annotated[
    bool,
    typer.Option(
        "--keep-nhwc",
        help="Keep a channels-last model's inputs and outputs channels-last (default: NCHW, as ONNX).",
    ),
]
InputShape = Annotated[
    list[str] | None,
    typer.Option(
        "--input-shape",
        help="Pin an input's shape, NAME=N,C,H,W (symbols allowed, e.g. data=1,3,224,224). Repeatable.",
    ),
]
PermuteAll = Annotated[
    bool,
    typer.Option(
        "--permute-all-weights",
        help="Permute every weight to the layout its op reads, however big (default: from 64 MiB a "
        "weight is written as stored where a Transpose of the activations can do it instead).",
    ),
]
FixedSize = Annotated[
    bool,
    typer.Option(
        "--fixed-size",
        help="Pin free spatial dims to the size the model records as nominal (default: any size).",
    ),
]
BackendOpt = Annotated[
    Backend | None,
    typer.Option(
        "--backend", help="Keras: convolution semantics of the saving backend (overrides the file)."
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Keras: architecture JSON for a weights-only .h5 file.")
]
WeightsOpt = Annotated[
    Path | None, typer.Option("--weights", help="Caffe: the .caffemodel holding a deploy prototxt's weights.")
]
PluginOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--plugin",
        help="A Python file that registers layer handlers (netinspect.registry.register_layer). Repeatable.",
    ),
]


class UsageError(NetinspectError):
    """A command-line value that cannot be understood."""


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[Any, ...]]:
    shapes: dict[str, tuple[Any, ...]] = {}
    for spec in specs or []:
        name, sep, dims = spec.partition("=")
        if not sep or not name or not dims:
            raise UsageError(f"--input-shape {spec!r}: expected NAME=N,C,H,W")
        parsed: list[Any] = []
        for dim in dims.split(","):
            dim = dim.strip()
            if not dim:
                raise UsageError(f"--input-shape {spec!r}: empty dimension")
            if dim.lstrip("-").isdigit():
                if int(dim) < 1:
                    raise UsageError(f"--input-shape {spec!r}: dimensions must be positive")
                parsed.append(int(dim))
            else:
                parsed.append(dim)
        shapes[name] = tuple(parsed)
    return shapes


def load_plugins(paths: list[Path] | None) -> None:
    """Import each plugin file; it registers its handlers when imported (the user asked to run it)."""
    for path in paths or []:
        if not path.is_file():
            raise UsageError(f"--plugin {path}: no such file")
        name = f"netinspect_plugin_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise UsageError(f"--plugin {path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            raise NetinspectError(f"plugin failed to load: {type(e).__name__}: {e}", path) from e


def load_options(
    keep_nhwc: bool = False,
    input_shape: list[str] | None = None,
    backend: Backend | None = None,
    config: Path | None = None,
    plugin: list[Path] | None = None,
    fixed_size: bool = False,
    permute_all_weights: bool = False,
    weights: Path | None = None,
) -> registry.LoadOptions:
    load_plugins(plugin)
    return registry.LoadOptions(
        keep_source_layout=keep_nhwc,
        input_shapes=parse_input_shapes(input_shape),
        backend=backend.value if backend else None,
        config=config,
        fixed_size=fixed_size,
        permute_all_weights=permute_all_weights,
        weights=weights,
    )


def parse_dims(specs: list[str] | None) -> dict[str, int]:
    """`--dim H=64` values: a symbolic dimension name and the size to evaluate it at."""
    dims: dict[str, int] = {}
    for spec in specs or []:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit() or int(value) < 1:
            raise UsageError(f"--dim {spec!r}: expected NAME=SIZE with a positive integer size")
        dims[name.strip()] = int(value)
    return dims


def sized_shapes(graph: Graph, dims: dict[str, int]) -> dict[str, tuple[Any, ...]]:
    """Input shapes with the named symbolic dims replaced, for reloading the model at that size.

    Without `dims`, a model that records a nominal image size (metadata.preprocessing.image_size)
    and has free spatial dims is sized at it, so `info` reports shapes and FLOPs of real use.
    Returns {} when nothing would change.
    """
    nominal = graph.metadata.preprocessing.image_size
    shapes: dict[str, tuple[Any, ...]] = {}
    for value in graph.inputs:
        shape = list(value.shape or ())
        given = dict(dims)
        if not dims and nominal and len(shape) == 4 and all(isinstance(d, str) for d in shape[2:]):
            given = {shape[2]: nominal[0], shape[3]: nominal[1]}
        sized = [given.get(d, d) if isinstance(d, str) else d for d in shape]
        if sized != shape:
            shapes[value.name] = tuple(sized)
    unused = sorted(set(dims) - {d for v in graph.inputs for d in (v.shape or ()) if isinstance(d, str)})
    if unused:
        raise UsageError(f"--dim {', '.join(unused)}: no input has such a dimension")
    return shapes


def load(model: Path, options: registry.LoadOptions) -> Graph:
    return registry.load(model, options)


_LOAD_PARAMETERS: dict[str, tuple[Any, Any]] = {
    "keep_nhwc": (KeepNhwc, False),
    "input_shape": (InputShape, None),
    "backend": (BackendOpt, None),
    "config": (ConfigOpt, None),
    "plugin": (PluginOpt, None),
    "fixed_size": (FixedSize, False),
    "permute_all_weights": (PermuteAll, False),
    "weights": (WeightsOpt, None),
}


def reads_model(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command every option that steers reading a model, handed to it as `options`.

    The command declares `options: registry.LoadOptions`; typer sees the individual flags instead,
    so info, view and convert take the same flags, defined once.
    """
    hints = get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
           if p.name != "options"]  # fmt: skip
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _LOAD_PARAMETERS.items()
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        flags = {name: kwargs.pop(name, default) for name, (_, default) in _LOAD_PARAMETERS.items()}
        command(*args, options=load_options(**flags), **kwargs)

    del run.__wrapped__  # typer must read the new signature, not the command's
    run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
    return run
