"""Grouping a graph's nodes by name scope, so a 10,000-node graph can be shown a screenful at a time.

Scopes come from node names: `/layer1/layer1.0/conv1/Conv` (PyTorch export), `block1/conv1/Conv2D`
(Keras/TF) and other `/`-separated paths. A scope that holds a single member is dissolved into its
parent (a group of one says nothing). A level that still holds more than `MAX_LEVEL` members (a
flat graph without scopes) is cut into runs of consecutive members in topological order, so no
level is ever too large to lay out or read. Both the SVG renderer (collapsed drawing of large
graphs) and the HTML page (collapse/expand) use this one tree, so they group alike.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_LEVEL = 1000
"""Most members one level may hold before it is cut into runs."""
RUN = 100
"""Members per run when a flat level is cut."""


@dataclass
class Group:
    """A scope: its members are item indices (`items`) and child groups (`groups`), in first-use order."""

    index: int
    name: str
    """The full scope path (`layer1/layer1.0`), or `name[a–b]` for a run of a flat level."""
    parent: int | None
    members: list[tuple[str, int]] = field(default_factory=list)
    """("item", index into the item list) or ("group", index into Tree.groups), in topological order."""
    size: int = 0
    """Items inside, at any depth."""
    ops: Counter[str] = field(default_factory=Counter)
    """Op histogram of the nodes inside, at any depth."""

    @property
    def label(self) -> str:
        return self.name.rsplit("/", 1)[-1] if "[" not in self.name else self.name


@dataclass
class Tree:
    """Group 0 is the root (the whole graph); `parent[i]` is the group that directly holds item i."""

    groups: list[Group]
    parent: list[int]

    def ancestors(self, item: int) -> list[int]:
        """Groups holding `item`, innermost first, root last."""
        chain = [self.parent[item]]
        while (up := self.groups[chain[-1]].parent) is not None:
            chain.append(up)
        return chain


def scope_of(name: str) -> list[str]:
    """The scope path of a node name: every `/`-separated part but the last (the node's own name)."""
    parts = [p for p in name.split("/") if p]
    return parts[:-1]


def build_tree(
    names: Sequence[str], ops: Sequence[str | None], edges: Sequence[tuple[int, int]] = ()
) -> Tree:
    """Group items (in topological order) by the scope in their names; `ops[i]` is None for non-nodes.

    `edges` (item pairs), when given, let a flat level be cut where the graph narrows to a single
    tensor (between residual blocks, say) rather than at a fixed count."""
    root = Group(0, "", None)
    groups = [root]
    by_path: dict[tuple[str, ...], int] = {(): 0}
    parent = [0] * len(names)
    for i, name in enumerate(names):
        path: tuple[str, ...] = ()
        at = 0
        for part in scope_of(name):
            path = (*path, part)
            known = by_path.get(path)
            if known is None:
                known = len(groups)
                groups.append(Group(known, "/".join(path), at))
                groups[at].members.append(("group", known))
                by_path[path] = known
            at = known
        groups[at].members.append(("item", i))
        parent[i] = at
    tree = Tree(groups, parent)
    _dissolve_singletons(tree)
    _cut_flat_levels(tree, edges)
    return _renumber(tree, ops)


def _dissolve_singletons(tree: Tree) -> None:
    """A non-root group with one member hands that member to its parent, in the group's place."""
    for group in reversed(tree.groups[1:]):
        if len(group.members) != 1 or group.parent is None:
            continue
        parent = tree.groups[group.parent]
        (kind, index) = group.members[0]
        slot = parent.members.index(("group", group.index))
        parent.members[slot] = (kind, index)
        if kind == "item":
            tree.parent[index] = parent.index
        else:
            tree.groups[index].parent = parent.index
        group.members = []


def _cut_flat_levels(tree: Tree, edges: Sequence[tuple[int, int]]) -> None:
    """Split every level with more than MAX_LEVEL members into runs of about RUN (recursively)."""
    pending = deque(g.index for g in tree.groups if g.members)
    while pending:
        group = tree.groups[pending.popleft()]
        if len(group.members) <= MAX_LEVEL:
            continue
        runs = _runs(tree, group, edges)
        group.members = []
        base, first = group.name, 1
        for run in runs:
            run_group = Group(len(tree.groups), f"{base}[{first}–{first + len(run) - 1}]", group.index)
            first += len(run)
            run_group.members = run
            tree.groups.append(run_group)
            group.members.append(("group", run_group.index))
            for kind, index in run:
                if kind == "item":
                    tree.parent[index] = run_group.index
                else:
                    tree.groups[index].parent = run_group.index
        pending.append(group.index)


def _runs(tree: Tree, group: Group, edges: Sequence[tuple[int, int]]) -> list[list[tuple[str, int]]]:
    """The group's members in runs of RUN/2..3·RUN/2, each ending where at most one edge crosses to
    the rest (a block boundary) when there is such a place, else after RUN members."""
    members = group.members
    count = len(members)
    slot = {member: i for i, member in enumerate(members)}

    def slot_of(item: int) -> int | None:
        member: tuple[str, int] = ("item", item)
        at: int | None = tree.parent[item]
        while at != group.index:
            if at is None:
                return None
            member, at = ("group", at), tree.groups[at].parent
        return slot[member]

    crossing = [0] * (count + 1)
    for u, v in edges:
        a, b = slot_of(u), slot_of(v)
        if a is not None and b is not None and a != b:
            crossing[min(a, b)] += 1
            crossing[max(a, b)] -= 1
    for i in range(1, count):
        crossing[i] += crossing[i - 1]  # crossing[p]: edges over the boundary after slot p
    runs, start = [], 0
    while start < count:
        end = count
        if count - start > RUN * 3 // 2:
            near = [p + 1 for p in range(start + RUN // 2, start + RUN * 3 // 2) if crossing[p] <= 1]
            end = min(near, key=lambda e: abs(e - start - RUN)) if near else start + RUN
        runs.append(members[start:end])
        start = end
    return runs


def _renumber(tree: Tree, ops: Sequence[str | None]) -> Tree:
    """Drop dissolved groups, number the rest in depth-first order, and count sizes and ops."""
    order: list[int] = []
    stack = [0]
    while stack:
        g = stack.pop()
        order.append(g)
        stack.extend(i for kind, i in reversed(tree.groups[g].members) if kind == "group")
    new_index = {old: new for new, old in enumerate(order)}
    groups = []
    for old in order:
        g = tree.groups[old]
        members = [(kind, new_index[i] if kind == "group" else i) for kind, i in g.members]
        parent = None if g.parent is None else new_index[g.parent]
        groups.append(Group(new_index[old], g.name, parent, members))
    parent = [new_index[p] for p in tree.parent]
    result = Tree(groups, parent)
    for item, op in enumerate(ops):
        for g in result.ancestors(item):
            result.groups[g].size += 1
            if op is not None:
                result.groups[g].ops[op] += 1
    return result


def expanded_within(tree: Tree, budget: int) -> set[int]:
    """Groups to open, a whole generation at a time from the root, while the members shown stay
    within `budget` (opening only some siblings would make a lopsided picture)."""
    opened = {0}
    shown = len(tree.groups[0].members)
    generation = [i for kind, i in tree.groups[0].members if kind == "group"]
    while generation:
        extra = sum(len(tree.groups[g].members) - 1 for g in generation)
        if shown + extra > budget:
            break
        opened.update(generation)
        shown += extra
        generation = [i for g in generation for kind, i in tree.groups[g].members if kind == "group"]
    return opened


def visible(tree: Tree, opened: set[int], item: int) -> tuple[str, int]:
    """What stands for `item` when only `opened` groups are open: the item, or its outermost closed group."""
    shown: tuple[str, int] = ("item", item)
    for g in tree.ancestors(item):
        if g not in opened:
            shown = ("group", g)
    return shown


def describe_ops(ops: Counter[str], shown: int = 4) -> str:
    """`Conv×3 Relu×3 Add …`: the most frequent ops of a group."""
    common = ops.most_common(shown)
    text = " ".join(f"{op}×{n}" if n > 1 else op for op, n in common)
    return text + (" …" if len(ops) > shown else "")
