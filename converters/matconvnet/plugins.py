"""The MatConvNet plugin API, kept as a thin name over `netinspect.registry`.

MatConvNet projects often add layer types to their own copy of `vl_simplenn` (FFDNet's `SubP`
pixel (un)shuffle, say). netinspect refuses such a layer, naming it, until a handler for its type
is registered, either in code::

    import numpy as np
    from netinspect.converters.matconvnet import plugins

    def convert_double(ctx):                # ctx: netinspect.converters.matconvnet.layers.MatconvnetContext
        x, shape = ctx.inputs[0], ctx.input_shapes[0]
        two = ctx.constant("two", np.float32(2))
        ctx.step("param", "doubled, as the project's vl_nndouble does")
        ctx.node("Mul", [x, two], shape, output=ctx.outputs[0])

    plugins.register_matconvnet_layer("double", convert_double)

(the same as `netinspect.registry.register_layer("matconvnet", "double", convert_double)`), or,
for a package, through the entry-point group ``netinspect.layers.matconvnet``, whose entry names
are layer types and values handler functions (pyproject.toml)::

    [project.entry-points."netinspect.layers.matconvnet"]
    SubP = "ffdnet_netinspect:convert_subp"

A handler reads the layer's fields (`ctx.number`, `ctx.numbers`, `ctx.text`, `ctx.field`) and
parameters (`ctx.kernel`, `ctx.vector`, `ctx.param`), emits ONNX-vocabulary nodes on NCHW values
with `ctx.node(op, inputs, shape, attributes, output=...)` (the last node must produce
`ctx.outputs[-1]`), and may add constants (`ctx.constant`), graph inputs (`ctx.add_input`), and
provenance (`ctx.step`). A registered type takes precedence over netinspect's own handler of
that type. tests/converters/matconvnet/test_matconvnet_plugins.py is a complete worked example.
"""

from __future__ import annotations

from netinspect import registry

MATCONVNET = "matconvnet"


def register_matconvnet_layer(layer_type: str, converter: registry.Handler) -> None:
    """Convert MatConvNet layers of `layer_type` (e.g. "SubP" or "dagnn.MyLayer") with `converter`."""
    registry.register_layer(MATCONVNET, layer_type, converter)


def unregister_matconvnet_layer(layer_type: str) -> None:
    registry.unregister_layer(MATCONVNET, layer_type)
