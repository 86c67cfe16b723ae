"""Resource variables the main graph assigns (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE after a
CALL_ONCE initialiser), as TF-MOT's pruning wrapper exports them: each call first assigns kernel·mask
to the kernel, then reads it.

Planned before conversion, per variable:
- folded: the assigned value depends only on constants and the variable itself, and assigning it
  again changes nothing (evaluated here, with NumPy, from the initial value: f(f(v₀)) = f(v₀)), and
  no read sees the value before that assignment differ from it. Every run then reads the same
  constant: the reads become it, the assignment and what only computes it make no node.
- state: anything else really carries state from one run to the next. The variable becomes a graph
  input whose default (an initializer of the same name) is its initial value, reads see its value
  at that point of the run, assignments replace it, and its last value is a graph output
  `<name>/final`: feeding that back as the input continues the sequence, as LiteRT does between
  invocations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from netinspect.converters.tflite.flatbuffer import TflFile, TflOperator, TflSubgraph, TflTensor

EVALUATED: dict[str, Callable[..., np.ndarray]] = {
    "MUL": np.multiply, "ADD": np.add, "SUB": np.subtract, "DIV": np.divide,
    "MAXIMUM": np.maximum, "MINIMUM": np.minimum,
}  # fmt: skip
"""Element-wise ops an assigned value may be computed with and still be folded (no fused activation)."""


@dataclass
class VariablePlan:
    """What the main graph does with each resource variable it assigns (module docstring)."""

    skipped: set[int] = field(default_factory=set)
    """Operators that make no node: folded assignments and what only computes their values."""
    values: dict[int, np.ndarray] = field(default_factory=dict)
    """READ_VARIABLE outputs of folded variables → the constant every run reads."""
    state: dict[str, TflTensor] = field(default_factory=dict)
    """Variables carrying state → their initial value."""
    current: dict[str, str] = field(default_factory=dict)
    """State variables → the IR value holding them at this point of the conversion."""
    folded: dict[str, np.ndarray] = field(default_factory=dict)
    """Folded variables → their value after the assignment."""


def shared_name(op: TflOperator) -> str:
    shared = op.options.get("SharedName", b"")
    return shared.decode() if isinstance(shared, bytes) else str(shared)


def plan_variables(sub: TflSubgraph, initial: dict[str, TflTensor]) -> VariablePlan:
    """The plan for the main subgraph `sub`, given what its CALL_ONCE initialiser assigns."""
    plan = VariablePlan()
    handles = {op.outputs[0]: shared_name(op) for op in sub.operators if op.opcode == "VAR_HANDLE"}
    assigns: dict[str, list[TflOperator]] = {}
    for op in sub.operators:
        if op.opcode == "ASSIGN_VARIABLE" and len(op.inputs) == 2 and op.inputs[0] in handles:
            assigns.setdefault(handles[op.inputs[0]], []).append(op)
    for name, ops in assigns.items():
        start = initial.get(name)
        folded = _fold(sub, handles, name, ops, start) if start is not None else None
        if folded is None:
            if start is None:
                continue  # no initial value: ASSIGN_VARIABLE's handler refuses the model
            plan.state[name] = start
            continue
        value, skipped = folded
        plan.folded[name] = value
        plan.skipped |= skipped
        for op in sub.operators:
            reads = op.opcode == "READ_VARIABLE" and op.inputs and handles.get(op.inputs[0]) == name
            if reads and op.index not in skipped:
                plan.values[op.outputs[0]] = value
                plan.skipped.add(op.index)
    return plan


def _fold(
    sub: TflSubgraph, handles: dict[int, str], name: str, assigns: list[TflOperator], start: TflTensor
) -> tuple[np.ndarray, set[int]] | None:
    """(the value every run reads, the operators that only compute it), or None when it is state."""
    if len(assigns) != 1:
        return None
    assign = assigns[0]
    producers = {i: op for op in sub.operators for i in op.outputs if i >= 0}
    cone: list[TflOperator] = []
    pending = [assign.inputs[1]]
    while pending:
        i = pending.pop()
        t = sub.tensors[i]
        if t.has_data:
            continue
        op = producers.get(i)
        if op is None or op.index > assign.index:
            return None  # a graph input, or written later: depends on the run
        if op.opcode == "READ_VARIABLE":
            if handles.get(op.inputs[0]) != name:
                return None
        elif op.opcode not in EVALUATED or op.options.get("FusedActivationFunction", 0):
            return None
        else:
            pending.extend(op.inputs)
        if op not in cone:
            cone.append(op)
    cone.sort(key=lambda op: op.index)
    v0 = np.asarray(start.data(), dtype=np.dtype(start.dtype))
    v1 = _evaluate(sub, cone, assign.inputs[1], v0)
    if v1.shape != v0.shape or not np.array_equal(_evaluate(sub, cone, assign.inputs[1], v1), v1):
        return None
    early_reads = [
        op for op in sub.operators
        if op.opcode == "READ_VARIABLE" and handles.get(op.inputs[0]) == name and op.index < assign.index
        and op not in cone
    ]  # fmt: skip
    if early_reads and not np.array_equal(v0, v1):
        return None
    only_here = {
        op.index for op in cone
        if all(
            consumer.index == assign.index or consumer in cone
            for consumer in sub.operators for i in op.outputs if i in consumer.inputs
        )
    }  # fmt: skip
    return v1, only_here | {assign.index}


def _evaluate(sub: TflSubgraph, cone: list[TflOperator], result: int, value: np.ndarray) -> np.ndarray:
    """The assigned value computed with NumPy, the variable holding `value`."""
    known: dict[int, np.ndarray] = {}

    def read(i: int) -> np.ndarray:
        t = sub.tensors[i]
        return known[i] if i in known else np.asarray(t.data(), dtype=np.dtype(t.dtype))

    for op in cone:
        if op.opcode == "READ_VARIABLE":
            known[op.outputs[0]] = value
        else:
            out = sub.tensors[op.outputs[0]]
            known[op.outputs[0]] = EVALUATED[op.opcode](*(read(i) for i in op.inputs)).astype(out.dtype)
    return read(result)


def initial_of(model: TflFile, sub: TflSubgraph, initial_values: Callable[[TflFile, int], dict]) -> dict:
    """What the CALL_ONCE initialisers of `sub` assign, by shared name."""
    found: dict[str, TflTensor] = {}
    for op in sub.operators:
        if op.opcode == "CALL_ONCE":
            found.update(initial_values(model, int(op.options.get("InitSubgraphIndex", 0))))
    return found
