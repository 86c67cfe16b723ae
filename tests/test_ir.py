"""The IR's own invariants: validate() catches what readers might get wrong; tensors stay lazy;
the layout rule is derived, not hand-written."""

from __future__ import annotations

import numpy as np
import pytest

from netinspect import layout
from netinspect.ir import Graph, GraphError, Node, Step, Tensor, Value


def chain() -> Graph:
    return Graph(
        "g",
        [Value("x", "float32", ("N", 3, 4, 4))],
        [Value("z", "float32", ("N", 3, 4, 4))],
        [Node("a", "Relu", ["x"], ["y"]), Node("b", "Neg", ["y"], ["z"])],
    )


def test_a_well_formed_graph_validates() -> None:
    chain().validate()


def test_out_of_order_nodes_are_caught() -> None:
    g = chain()
    g.nodes.reverse()
    with pytest.raises(GraphError, match="reads 'y' before it is defined"):
        g.validate()


def test_a_value_defined_twice_is_caught() -> None:
    g = chain()
    g.nodes.append(Node("c", "Relu", ["x"], ["y"]))
    with pytest.raises(GraphError, match="defined twice"):
        g.validate()


def test_an_output_never_computed_is_caught() -> None:
    g = chain()
    g.outputs.append(Value("nowhere"))
    with pytest.raises(GraphError, match="never computed"):
        g.validate()


def test_disagreeing_shapes_and_dtypes_are_caught() -> None:
    g = chain()
    g.values["z"] = Value("z", "float32", ("N", 3, 4, 5))
    with pytest.raises(GraphError, match="shapes"):
        g.validate()
    g = chain()
    g.values["x"] = Value("x", "float16", None)
    with pytest.raises(GraphError, match="dtype"):
        g.validate()


def test_symbolic_dims_agree_with_anything() -> None:
    g = chain()
    g.values["z"] = Value("z", "float32", (1, 3, 4, 4))
    g.validate()


def test_subgraphs_may_read_the_enclosing_scope() -> None:
    body = Graph("body", [], [Value("w")], [Node("inner", "Neg", ["y"], ["w"])])
    g = chain()
    g.nodes.append(Node("if", "If", ["c"], ["v"], {"then_branch": body, "else_branch": body}))
    g.inputs.append(Value("c", "bool", ()))
    g.validate()
    body.nodes[0].inputs = ["unknown"]
    with pytest.raises(GraphError, match="unknown"):
        g.validate()


def test_tensors_load_lazily_and_compose() -> None:
    calls = []

    def load() -> np.ndarray:
        calls.append(1)
        return np.arange(24, dtype=np.float32).reshape(2, 3, 4)

    t = Tensor("w", "float32", (2, 3, 4), loader=load)
    moved = t.map(lambda a: a.transpose(2, 0, 1), (4, 2, 3))
    assert calls == [] and t.nbytes == 96 and moved.shape == (4, 2, 3)
    np.testing.assert_array_equal(moved.numpy(), np.arange(24).reshape(2, 3, 4).transpose(2, 0, 1))
    assert calls == [1]


def test_a_loader_that_lies_about_its_shape_is_caught() -> None:
    t = Tensor("w", "float32", (2, 2), loader=lambda: np.zeros((3,), np.float32))
    with pytest.raises(GraphError, match="declared"):
        t.numpy()


def test_provenance_step_kinds_are_checked() -> None:
    Step("flip", "kernel flipped in H and W")
    with pytest.raises(ValueError):
        Step("magic", "something")


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        ("HWIO", "OIHW", (3, 2, 0, 1)),
        ("HWCN", "NCHW", (3, 2, 0, 1)),
        ("NHWC", "NCHW", (0, 3, 1, 2)),
        ("OHWI", "OIHW", (0, 3, 1, 2)),
    ],
)
def test_layout_permutations_are_derived(src: str, dst: str, expected: tuple[int, ...]) -> None:
    assert layout.perm(src, dst) == expected
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    b = layout.permute(a, src, dst)
    # the element at source index (0, 1, 2, 3) lands where the destination names the same axes
    index_of = dict(zip(src, range(4), strict=True))
    assert b[tuple(index_of[axis] for axis in dst)] == a[0, 1, 2, 3]
    assert "perm" in layout.describe("kernel", src, dst)


def test_nodes_are_compared_by_identity() -> None:
    """A rewrite that removes a node removes that node, even when another has the same fields."""
    first, second = Node("n", "Relu", ["x"], ["y"]), Node("n", "Relu", ["x"], ["y"])
    nodes = [first, second]
    nodes.remove(second)
    assert nodes[0] is first and first != second
