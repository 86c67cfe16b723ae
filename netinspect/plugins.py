"""Hooks that let a user teach netinspect layer types of their own, without editing netinspect.

MatConvNet projects often add layer types to their own copy of `vl_simplenn` (FFDNet's `SubP`
pixel (un)shuffle, say). netinspect refuses such a layer, naming it, until a converter for its
type is registered, either in code::

    import numpy as np
    import netinspect.plugins

    def convert_double(ctx):                # ctx: netinspect.converters.matconvnet.layers.LayerContext
        x, shape = ctx.inputs[0], ctx.input_shapes[0]
        two = ctx.constant("two", np.float32(2))
        ctx.step("param", "doubled, as the project's vl_nndouble does")
        ctx.node("Mul", [x, two], shape, output=ctx.outputs[0])

    netinspect.plugins.register_matconvnet_layer("double", convert_double)

or, for a package, through the entry-point group ``netinspect.matconvnet_layers``, whose entry
names are layer types and values converter functions (pyproject.toml)::

    [project.entry-points."netinspect.matconvnet_layers"]
    SubP = "ffdnet_netinspect:convert_subp"

A converter reads the layer's fields (`ctx.number`, `ctx.numbers`, `ctx.text`, `ctx.field`) and
parameters (`ctx.kernel`, `ctx.vector`, `ctx.param`), emits ONNX-vocabulary nodes on NCHW values
with `ctx.node(op, inputs, shape, attributes, output=...)` (the last node must produce
`ctx.outputs[-1]`), and may add constants (`ctx.constant`), graph inputs (`ctx.add_input`), and
provenance (`ctx.step`). A registered type takes precedence over netinspect's own converter of
that type. The FFDNet test (tests/test_matconvnet_plugins.py) is a complete worked example.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from netinspect.errors import NetinspectError

MATCONVNET_ENTRY_POINTS = "netinspect.matconvnet_layers"

LayerConverter = Callable[[Any], None]

_registered: dict[str, LayerConverter] = {}
_from_entry_points: dict[str, LayerConverter] | None = None


def register_matconvnet_layer(layer_type: str, converter: LayerConverter) -> None:
    """Convert MatConvNet layers of `layer_type` (e.g. "SubP" or "dagnn.MyLayer") with `converter`."""
    if not layer_type or not callable(converter):
        raise ValueError("register_matconvnet_layer needs a layer type and a callable")
    _registered[layer_type] = converter


def unregister_matconvnet_layer(layer_type: str) -> None:
    _registered.pop(layer_type, None)


def matconvnet_layer_converter(layer_type: str) -> LayerConverter | None:
    """The user's converter for a layer type: registered in code first, then by entry point."""
    if layer_type in _registered:
        return _registered[layer_type]
    return _entry_point_converters().get(layer_type)


def _entry_point_converters() -> dict[str, LayerConverter]:
    global _from_entry_points
    if _from_entry_points is None:
        found: dict[str, LayerConverter] = {}
        for entry in entry_points(group=MATCONVNET_ENTRY_POINTS):
            try:
                found[entry.name] = entry.load()
            except Exception as e:  # a broken plugin package must not look like a broken model
                raise NetinspectError(
                    f"the MatConvNet layer plugin {entry.name!r} ({entry.value}) failed to load: {e}"
                ) from e
        _from_entry_points = found
    return _from_entry_points
