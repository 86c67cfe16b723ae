"""Small real ONNX models for the viewer's tests: scoped residual blocks, and an If with two branches."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHANNELS = 4
STACK_TRACE = 'File "model.py", line 12, in forward\n    total = x.sum()'
"""Node metadata as PyTorch's exporter writes it, on the If model's first node."""


def scoped_resnet(stages: int, blocks: int) -> onnx.ModelProto:
    """Conv → Relu → Add(skip) blocks named like a PyTorch export (`/layer1/layer1.0/conv/Conv`)."""
    rng = np.random.default_rng(0)
    nodes, inits, previous = [], [], "x"
    for s in range(1, stages + 1):
        for b in range(blocks):
            scope = f"/layer{s}/layer{s}.{b}"
            w = f"layer{s}.{b}.conv.weight"
            inits.append(
                numpy_helper.from_array(rng.standard_normal((CHANNELS, CHANNELS, 3, 3), np.float32), w)
            )
            nodes += [
                helper.make_node(
                    "Conv", [previous, w], [f"{scope}/c"], f"{scope}/conv/Conv", pads=[1, 1, 1, 1]
                ),
                helper.make_node("Relu", [f"{scope}/c"], [f"{scope}/r"], f"{scope}/relu/Relu"),
                helper.make_node("Add", [f"{scope}/r", previous], [f"{scope}/a"], f"{scope}/Add"),
            ]
            previous = f"{scope}/a"
    nodes.append(helper.make_node("Relu", [previous], ["y"], "/out/Relu"))
    graph = helper.make_graph(
        nodes,
        "scoped",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, CHANNELS, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, CHANNELS, 8, 8])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


def if_model() -> onnx.ModelProto:
    """y = If(sum(x) > 0) then Relu(x) * 2 else Neg(x): branches read `x` from the enclosing graph."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    then_graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["t_relu"], "then_relu"),
            helper.make_node("Mul", ["t_relu", "two"], ["t_out"], "then_scale"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [2, 3])],
        [two],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e_out"], "else_neg")],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [2, 3])],
    )
    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["x"], ["total"], "total", keepdims=0),
            helper.make_node("Greater", ["total", "zero"], ["positive"], "positive"),
            helper.make_node(
                "If", ["positive"], ["y"], "branch", then_branch=then_graph, else_branch=else_graph
            ),
        ],
        "with_if",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(np.array(0.0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    helper.set_metadata_props(model.graph.node[0], {"pkg.torch.onnx.stack_trace": STACK_TRACE})
    return model
