"""State variables of a TFLite model (variables.py) as graph inputs and outputs of the IR: the input
defaults to the variable's initial value (an initializer of the same name, so a runtime that is not
fed it starts where LiteRT starts), and `<name>/final` returns the value the run leaves."""

from __future__ import annotations

from netinspect.build import GraphBuilder
from netinspect.converters.tflite.variables import VariablePlan
from netinspect.ir import Node, Tensor, Value


def declare_state(builder: GraphBuilder, plan: VariablePlan) -> None:
    for name, start in plan.state.items():
        declared = builder.add_input(name, start.shape, start.dtype)
        builder.tensors[declared] = Tensor(
            declared, start.dtype, start.shape, loader=start.data, span=start.span
        )
        plan.current[name] = declared
        builder.notes.append(
            f"resource variable {name!r} carries state from one run to the next: input {declared!r} "
            f"(default: its initial value), output {declared + '/final'!r} (its value after the run)"
        )
    for name in plan.folded:
        builder.notes.append(
            f"resource variable {name!r} is assigned the value it already holds after its first "
            "assignment: folded to that constant"
        )


def final_state(builder: GraphBuilder, plan: VariablePlan) -> list[str]:
    """The graph outputs returning each state variable's value after the run."""
    outputs = []
    for name in plan.state:
        value = plan.current[name]
        final = builder.unique(f"{name}/final")
        builder.nodes.append(Node(builder.node_name(final), "Identity", [value], [final]))
        known = builder.values.get(value)
        builder.values[final] = Value(
            final, known.dtype if known else "float32", known.shape if known else None
        )
        outputs.append(final)
    return outputs
