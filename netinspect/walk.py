"""Walking a graph the way every view of it does: node ids, the scope each node sees, op keys.

`info`, `view` (SVG and HTML) and `check`'s reports all name nodes by `node_id` in `walk_scoped`
order, so an id in one is the same node in the others.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from netinspect.ir import Graph, Node, Tensor, Value


@dataclass(frozen=True)
class Scope:
    """The graphs whose values a node can see: its own graph first, then the enclosing ones."""

    graphs: tuple[Graph, ...]
    path: str = ""

    def value(self, name: str) -> Value | None:
        for graph in self.graphs:
            known = graph.value(name)
            if known is not None:
                return known
        return None

    def tensor(self, name: str) -> Tensor | None:
        for graph in self.graphs:
            if name in graph.tensors:
                return graph.tensors[name]
        return None

    def enter(self, graph: Graph, path: str) -> Scope:
        return Scope((graph, *self.graphs), path)


def node_id(index: int) -> str:
    """The id of the node at `index` in `walk_scoped` order; the SVG renderer uses the same ids."""
    return f"n{index}"


def walk_scoped(graph: Graph) -> Iterator[tuple[Node, Scope]]:
    """Every node with the scope it runs in, in `Graph.walk()` order (subgraphs after their owner)."""
    counter = itertools.count()

    def visit(g: Graph, scope: Scope) -> Iterator[tuple[Node, Scope]]:
        for node in g.nodes:
            index = next(counter)
            yield node, scope
            for attr, sub in subgraph_attributes(node):
                yield from visit(sub, scope.enter(sub, f"{node_id(index)}/{attr}"))

    yield from visit(graph, Scope((graph,)))


def subgraph_attributes(node: Node) -> Iterator[tuple[str, Graph]]:
    """A node's subgraphs named by attribute (`body`, `branches[1]`), in `Node.subgraphs()` order."""
    for attr, value in node.attributes.items():
        if isinstance(value, Graph):
            yield attr, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, Graph):
                    yield f"{attr}[{i}]", item


def all_graphs(graph: Graph) -> Iterator[Graph]:
    yield graph
    for node in graph.walk():
        yield from node.subgraphs()


def constant_inputs(graph: Graph) -> set[str]:
    """Graph inputs that are really constants (old ONNX models list initializers as inputs)."""
    return {v.name for v in graph.inputs if v.name in graph.tensors}


def op_name(domain: str, op_type: str) -> str:
    """The one way netinspect names an op: the op type, prefixed by "domain." outside the default
    ONNX domain ("Conv", "ai.onnx.ml.ZipMap", "com.microsoft.QLinearAdd")."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}.{op_type}"


def op_key(node: Node) -> str:
    """The histogram key of a node: its `op_name`."""
    return op_name(node.domain, node.op_type)
