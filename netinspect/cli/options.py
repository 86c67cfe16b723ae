"""What every command that reads a model accepts, turned into `registry.LoadOptions` in one place."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    plugin: list[Path] | None = None,
    fixed_size: bool = False,
    permute_all_weights: bool = False,
    companions: dict[str, Path | None] | None = None,
    format_options: dict[str, Any] | None = None,
) -> registry.LoadOptions:
    """The command line's reading flags as LoadOptions; unset companions and format options are left out."""
    load_plugins(plugin)
    return registry.LoadOptions(
        keep_source_layout=keep_nhwc,
        input_shapes=parse_input_shapes(input_shape),
        fixed_size=fixed_size,
        permute_all_weights=permute_all_weights,
        companions={name: path for name, path in (companions or {}).items() if path is not None},
        format_options={name: value for name, value in (format_options or {}).items() if value is not None},
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
    "plugin": (PluginOpt, None),
    "fixed_size": (FixedSize, False),
    "permute_all_weights": (PermuteAll, False),
}
"""The reading flags every format understands: parameter name → (annotation, default)."""


@dataclass(frozen=True)
class _FormatFlag:
    """A flag some readers declare (a companion file or a format option), merged across readers."""

    name: str
    companion: bool
    helps: tuple[str, ...]
    choices: tuple[str, ...]

    @property
    def parameter(self) -> str:
        return self.name.replace("-", "_")

    def annotation(self) -> Any:
        help_text = " ".join(self.helps)
        if self.companion:
            return Annotated[Path | None, typer.Option(f"--{self.name}", help=help_text, show_default=False)]
        choices = StrEnum(self.parameter, {c: c for c in self.choices}) if self.choices else str  # type: ignore[misc]
        return Annotated[choices | None, typer.Option(f"--{self.name}", help=help_text, show_default=False)]


def _format_flags() -> list[_FormatFlag]:
    """The companion files and format options every installed reader declares, one flag per name."""
    flags: dict[str, _FormatFlag] = {}
    for reader in registry.readers():
        declared = [(c.name, True, c.help, ()) for c in reader.companions]
        declared += [(o.name, False, o.help, o.choices) for o in reader.options]
        for name, companion, help_text, choices in declared:
            known = flags.get(name)
            if known is not None and known.companion != companion:
                raise NetinspectError(
                    f"the reader {reader.name!r} declares --{name} as a "
                    f"{'file' if companion else 'value'}, another reader as the other"
                )
            helps = (
                (*known.helps, f"{reader.name}: {help_text}") if known else (f"{reader.name}: {help_text}",)
            )
            merged = tuple(dict.fromkeys((*known.choices, *choices))) if known else choices
            flags[name] = _FormatFlag(name, companion, helps, merged)
    return list(flags.values())


def _plain(value: Any) -> Any:
    """A choice typer hands over as an enum member, as the string a reader compares with."""
    return value.value if isinstance(value, StrEnum) else value


def reads_model(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command every option that steers reading a model, handed to it as `options`.

    The command declares `options: registry.LoadOptions`; typer sees the individual flags instead:
    the ones every format understands, and each installed reader's companion files and own options
    (`Reader.companions`, `Reader.options`), so info, view, convert, check and diff take the same
    flags, defined once, and a new format's flags appear on all of them.
    """
    hints = get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
           if p.name != "options"]  # fmt: skip
    format_flags = _format_flags()
    taken = {p.name for p in own} & {f.parameter for f in format_flags}
    if taken:
        raise NetinspectError(f"a reader's flag clashes with {command.__name__}'s own: {', '.join(taken)}")
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in _LOAD_PARAMETERS.items()
    ] + [
        inspect.Parameter(
            f.parameter, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=f.annotation()
        )
        for f in format_flags
    ]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        flags = {name: kwargs.pop(name, default) for name, (_, default) in _LOAD_PARAMETERS.items()}
        companions = {f.name: kwargs.pop(f.parameter, None) for f in format_flags if f.companion}
        values = {f.name: _plain(kwargs.pop(f.parameter, None)) for f in format_flags if not f.companion}
        options = load_options(**flags, companions=companions, format_options=values)
        command(*args, options=options, **kwargs)

    del run.__wrapped__  # typer must read the new signature, not the command's
    run.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
    return run
