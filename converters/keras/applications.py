"""Layers `keras.applications` defines for its own models (Keras 3 and tf-keras alike).

- `LayerScale` (ConvNeXt): `x * gamma`, gamma one weight of `projection_dim` values (channels-last).
- `StochasticDepth` (ConvNeXt with `drop_path_rate`): drops residual paths only in training; the
  identity at inference, removed like a Dropout.
- `CustomScaleLayer` (Inception-ResNet-V2): `inputs[0] + inputs[1] * scale`.

(keras/src/applications/convnext.py, inception_resnet_v2.py; tf_keras/src/applications/ the same.)
"""

from __future__ import annotations

from netinspect.converters.keras.context import KerasContext
from netinspect.converters.keras.layers import layer, single_input


@layer("LayerScale")
def convert_layer_scale(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    channels = int(ctx.cfg("projection_dim"))
    if shape[-1] not in (channels, None):
        raise ctx.error(f"scales {channels} channels of an input with {shape[-1]}")
    gamma = ctx.weight(0, "gamma", (channels,))
    ctx.node("Mul", [x, gamma], shape, output=ctx.outputs[0])


@layer("StochasticDepth")
def convert_stochastic_depth(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    ctx.step("dropout", "StochasticDepth drops residual paths only in training: the identity at inference")
    ctx.node("Identity", [x], shape, output=ctx.outputs[0])


@layer("CustomScaleLayer", "Custom>CustomScaleLayer")  # tf-keras registers it as Custom>…
def convert_custom_scale(ctx: KerasContext) -> None:
    if len(ctx.inputs) != 2:
        raise ctx.error(f"adds a scaled second input to the first; it has {len(ctx.inputs)} inputs")
    (x, y), (xs, ys) = ctx.inputs, ctx.input_shapes
    scaled = ctx.node("Mul", [y, ctx.scalar("scale", float(ctx.cfg("scale")))], ys)
    ctx.node("Add", [x, scaled], xs, output=ctx.outputs[0])
