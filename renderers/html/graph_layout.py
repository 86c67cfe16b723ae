"""Layered layout of every group level, computed once in Python; the page only assigns coordinates.

Each group (scope) is laid out on its own, with its members (nodes and child groups) as boxes:
members get a rank (longest path from the level's sources, in topological order, so back edges
between interleaved scopes never form a cycle), edges spanning several ranks get virtual points
(so they bend around boxes instead of crossing them), and members are ordered within ranks by
barycentre sweeps to reduce crossings. Levels are small (groups.MAX_LEVEL), so the whole pass is
linear in the graph's size. Ranks and orders do not depend on box sizes, so when the page opens
or closes a group it only recomputes coordinates, in one linear pass, keeping the picture stable.
Graphviz's coordinates would be stale the moment a group changes size, so only its ranks and
orders are used, and only for graphs small enough for it (see `layout`).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from netinspect.renderers.groups import Tree

SWEEPS = 4
GRAPHVIZ_MAX = 2000
"""Most boxes (all levels together) for which `dot` orders the ranks; bigger graphs use the layered
layout here, whose cost is linear (dot's crossing minimisation is not)."""
GRAPHVIZ_SECONDS = 20


@dataclass
class Level:
    """The layout of one group's members: `rank[m]`, `order[m]` per member slot m, virtual points,
    and level edges (slot a, slot b, virtual point indices along the way)."""

    rank: list[int]
    order: list[int]
    virtual: list[tuple[int, int]] = field(default_factory=list)
    edges: list[tuple[int, int, list[int]]] = field(default_factory=list)


def layout(
    tree: Tree,
    edges: Sequence[tuple[int, int]],
    sizes: Callable[[str, int], tuple[float, float]] | None = None,
) -> tuple[list[Level], list[tuple[int, int]]]:
    """Lay out every group; returns the levels and, per item edge, (group, level edge index).

    With `sizes` (box width and height in pixels of an item or a closed group) and a graph of at
    most GRAPHVIZ_MAX boxes, ranks and orders come from Graphviz `dot` (better crossing
    minimisation), all levels in one `dot -Tplain` run; otherwise, or if `dot` is missing or
    fails, from the layered layout here."""
    slot_of = _slots(tree)
    first = _first_item(tree)
    level_edges: list[dict[tuple[int, int], int]] = [{} for _ in tree.groups]
    placed: list[tuple[int, int]] = []
    for u, v in edges:
        level, a, b = _meeting(tree, slot_of, u, v)
        known = level_edges[level].setdefault((a, b), len(level_edges[level]))
        placed.append((level, known))
    pairs = [list(level_edges[g]) for g in range(len(tree.groups))]
    levels = None
    if sizes is not None and sum(len(g.members) for g in tree.groups) <= GRAPHVIZ_MAX:
        levels = _graphviz_levels(tree, pairs, sizes)
    if levels is None:
        levels = [_lay_level(tree, g, pairs[g], first) for g in range(len(tree.groups))]
    return levels, placed


def _graphviz_levels(
    tree: Tree, pairs: list[list[tuple[int, int]]], sizes: Callable[[str, int], tuple[float, float]]
) -> list[Level] | None:
    """Every level as one digraph of a single DOT text; ranks from `dot`'s y, orders from its x."""
    if shutil.which("dot") is None:
        return None
    text = []
    for g, group in enumerate(tree.groups):
        text.append(f"digraph L{g} {{ nodesep=0.2; ranksep=0.35; node [shape=box, fixedsize=true];")
        for slot, (kind, index) in enumerate(group.members):
            w, h = sizes(kind, index)
            text.append(f"m{slot} [width={w / 72:.3f}, height={h / 72:.3f}];")
        text += [f"m{a} -> m{b};" for a, b in pairs[g]]
        text.append("}")
    try:
        run = subprocess.run(
            ["dot", "-Tplain"],
            input="\n".join(text),
            capture_output=True,
            text=True,
            timeout=GRAPHVIZ_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if run.returncode != 0:
        return None
    blocks = run.stdout.split("\nstop")
    if len(blocks) < len(tree.groups):
        return None
    return [
        _level_from_plain(blocks[g], len(tree.groups[g].members), pairs[g]) for g in range(len(tree.groups))
    ]


def _level_from_plain(block: str, n: int, pairs: list[tuple[int, int]]) -> Level:
    x = [0.0] * n
    y = [0.0] * n
    splines: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for line in block.splitlines():
        parts = line.split()
        if parts and parts[0] == "node":
            slot = int(parts[1][1:])
            x[slot], y[slot] = float(parts[2]), float(parts[3])
        elif parts and parts[0] == "edge":
            count = int(parts[3])
            points = [(float(parts[4 + 2 * i]), float(parts[5 + 2 * i])) for i in range(count)]
            splines[(int(parts[1][1:]), int(parts[2][1:]))] = points
    heights = sorted({round(v, 2) for v in y}, reverse=True)  # plain output: y grows upwards
    rank_of = {v: r for r, v in enumerate(heights)}
    rank = [rank_of[round(v, 2)] for v in y]
    rows: list[list[tuple[float, int]]] = [[] for _ in heights]
    for slot in range(n):
        rows[rank[slot]].append((x[slot], slot))
    level = Level(rank, [0] * n)
    for a, b in pairs:
        chain: list[int] = []
        if rank[b] - rank[a] > 1:
            points = splines.get((a, b)) or [(x[a], y[a]), (x[b], y[b])]
            for r in range(rank[a] + 1, rank[b]):
                vid = len(level.virtual)
                rows[r].append((_x_at(points, heights[r]), n + vid))
                level.virtual.append((r, 0))
                chain.append(vid)
        level.edges.append((a, b, chain))
    for r, row in enumerate(rows):
        for order, (_, ident) in enumerate(sorted(row)):
            if ident < n:
                level.order[ident] = order
            else:
                level.virtual[ident - n] = (r, order)
    return level


def _x_at(points: list[tuple[float, float]], height: float) -> float:
    """Where a spline (its control polygon) crosses a height: linear between the two nearest points."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if min(y0, y1) <= height <= max(y0, y1):
            return x0 if y0 == y1 else x0 + (x1 - x0) * (height - y0) / (y1 - y0)
    return min(points, key=lambda p: abs(p[1] - height))[0]


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
