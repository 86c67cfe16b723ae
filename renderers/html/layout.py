"""Layered layout of every group level, computed once in Python; the page only assigns coordinates.

Each group (scope) is laid out on its own, with its members (nodes and child groups) as boxes:
members get a rank (longest path from the level's sources, in topological order, so back edges
between interleaved scopes never form a cycle), edges spanning several ranks get virtual points
(so they bend around boxes instead of crossing them), and members are ordered within ranks by
barycentre sweeps to reduce crossings. Levels are small (groups.MAX_LEVEL), so the whole pass is
linear in the graph's size. Ranks and orders do not depend on box sizes, so when the page opens
or closes a group it only recomputes coordinates, in one linear pass, keeping the picture stable.
Graphviz is not used here: its coordinates would be stale the moment a group changes size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from netinspect.renderers.groups import Tree

SWEEPS = 4


@dataclass
class Level:
    """The layout of one group's members: `rank[m]`, `order[m]` per member slot m, virtual points,
    and level edges (slot a, slot b, virtual point indices along the way)."""

    rank: list[int]
    order: list[int]
    virtual: list[tuple[int, int]] = field(default_factory=list)
    edges: list[tuple[int, int, list[int]]] = field(default_factory=list)


def layout(tree: Tree, edges: Sequence[tuple[int, int]]) -> tuple[list[Level], list[tuple[int, int]]]:
    """Lay out every group; returns the levels and, per item edge, (group, level edge index)."""
    slot_of = _slots(tree)
    first = _first_item(tree)
    level_edges: list[dict[tuple[int, int], int]] = [{} for _ in tree.groups]
    placed: list[tuple[int, int]] = []
    for u, v in edges:
        level, a, b = _meeting(tree, slot_of, u, v)
        known = level_edges[level].setdefault((a, b), len(level_edges[level]))
        placed.append((level, known))
    levels = [_lay_level(tree, g, list(level_edges[g]), first) for g in range(len(tree.groups))]
    return levels, placed


def _slots(tree: Tree) -> dict[tuple[str, int], int]:
    """Where each item or group sits in its parent's member list."""
    return {member: slot for group in tree.groups for slot, member in enumerate(group.members)}


def _first_item(tree: Tree) -> list[int]:
    """The smallest item index inside each group: its place in topological order."""
    first = [1 << 60] * len(tree.groups)
    for item, g in enumerate(tree.parent):
        while g is not None:
            if item < first[g]:
                first[g] = item
            g = tree.groups[g].parent
    return first


def _meeting(tree: Tree, slot_of: dict[tuple[str, int], int], u: int, v: int) -> tuple[int, int, int]:
    """The innermost group holding both items, and the member slots through which the edge enters it."""
    up_u = tree.ancestors(u)
    up_v = tree.ancestors(v)
    on_v = set(up_v)
    below_u: tuple[str, int] = ("item", u)
    for g in up_u:
        if g in on_v:
            below_v: tuple[str, int] = ("item", v)
            for h in up_v:
                if h == g:
                    break
                below_v = ("group", h)
            return g, slot_of[below_u], slot_of[below_v]
        below_u = ("group", g)
    raise AssertionError("every item is inside the root group")


def _lay_level(tree: Tree, g: int, pairs: list[tuple[int, int]], first: list[int]) -> Level:
    members = tree.groups[g].members
    n = len(members)
    pos = [first[i] if kind == "group" else i for kind, i in members]
    by_pos = sorted(range(n), key=pos.__getitem__)
    forward = [(a, b) for a, b in pairs if pos[a] < pos[b]]
    preds: list[list[int]] = [[] for _ in range(n)]
    for a, b in forward:
        preds[b].append(a)
    rank = [0] * n
    for m in by_pos:
        if preds[m]:
            rank[m] = max(rank[p] + 1 for p in preds[m])
    succs: list[list[int]] = [[] for _ in range(n)]
    for a, b in forward:
        succs[a].append(b)
    for m in reversed(by_pos):  # a source (a constant, a weight maker) sits right above its first user
        if not preds[m] and succs[m]:
            rank[m] = max(0, min(rank[s] for s in succs[m]) - 1)
    level = Level(rank, [0] * n)
    # Nodes of the layering: members 0..n-1, then virtual points n.. ; rank of each.
    node_rank = list(rank)
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs:
        chain: list[int] = []
        if pos[a] < pos[b]:
            prev = a
            for r in range(rank[a] + 1, rank[b]):
                vid = len(node_rank)
                node_rank.append(r)
                up.append([prev])
                down.append([])
                down[prev].append(vid)
                chain.append(vid - n)
                prev = vid
            down[prev].append(b)
            up[b].append(prev)
        level.edges.append((a, b, chain))
    order = _order(node_rank, up, down, by_pos)
    level.order = order[:n]
    level.virtual = [(node_rank[i], order[i]) for i in range(n, len(node_rank))]
    return level


def _order(node_rank: list[int], up: list[list[int]], down: list[list[int]], by_pos: list[int]) -> list[int]:
    """Order within ranks: first by topological position, then barycentre sweeps down and up."""
    ranks: list[list[int]] = [[] for _ in range(max(node_rank, default=-1) + 1)]
    seen = set()
    for m in by_pos:  # members in topological order, each followed by the virtual chains leaving it
        stack = [m]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            ranks[node_rank[x]].append(x)
            stack.extend(reversed([d for d in down[x] if d >= len(by_pos)]))
    order = [0] * len(node_rank)
    for row in ranks:
        for i, x in enumerate(row):
            order[x] = i
    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        sequence = range(1, len(ranks)) if downward else range(len(ranks) - 2, -1, -1)
        for r in sequence:
            row = ranks[r]
            near = up if downward else down

            def centre(x: int, near: list[list[int]] = near) -> float:
                links = near[x]
                return sum(order[y] for y in links) / len(links) if links else order[x]

            row.sort(key=centre)
            for i, x in enumerate(row):
                order[x] = i
    return order
