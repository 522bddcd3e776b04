"""Where to draw a job's graph and its timeline: pure geometry, no Django (the pages draw it as SVG).

The graph is layered by longest path: a node's column is the length of the longest chain of edges that
leads to it, so every edge points right and a chain of n tasks takes n columns. A column with many nodes
wraps into several sub-columns (a fan-out of 200 stays on one screen). The timeline puts one row per task
and one bar per attempt on a shared time axis.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

NODE_W, NODE_H = 168, 36
GAP_X, GAP_Y, SUB_GAP = 56, 10, 16
PAD = 12
PER_COLUMN = 20  # nodes in one sub-column before the layer wraps into the next

# A colour per task state and attempt outcome (the names they share mean the same), readable on the admin's
# light and dark themes alike.
COLOURS = {
    "pending": "#94a3b8", "queued": "#38bdf8", "running": "#2563eb", "waiting": "#8b5cf6", "blocked": "#d97706",
    "succeeded": "#16a34a", "failed": "#dc2626", "cancelled": "#64748b", "skipped": "#cbd5e1",
    "timed_out": "#ea580c", "killed": "#991b1b", "decomposed": "#7c3aed", "lost": "#db2777", "discarded": "#a8a29e",
}


def layers(nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable]]) -> dict[Hashable, int]:
    """Each node's layer: 0 for a node nothing points to, else one more than the highest layer of the
    nodes pointing to it (the longest path from a source). Edges naming unknown nodes are ignored; nodes
    on a cycle (the engine refuses cycles, but a page must still draw) go one layer past the rest."""
    order = list(dict.fromkeys(nodes))
    known = set(order)
    succ: dict[Hashable, list[Hashable]] = defaultdict(list)
    indegree = dict.fromkeys(order, 0)
    for a, b in edges:
        if a in known and b in known and a != b:
            succ[a].append(b)
            indegree[b] += 1
    layer = dict.fromkeys(order, 0)
    ready = deque(n for n in order if indegree[n] == 0)
    seen = 0
    while ready:
        n = ready.popleft()
        seen += 1
        for m in succ[n]:
            layer[m] = max(layer[m], layer[n] + 1)
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
    if seen < len(order):
        last = max((layer[n] for n in order if indegree[n] == 0), default=-1) + 1
        for n in order:
            if indegree[n] > 0:
                layer[n] = last
    return layer


@dataclass
class Placed:
    """A node with its place: ``x, y`` its top left corner."""

    id: Hashable
    x: int
    y: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Edge:
    """A curve from the right side of one node to the left side of another; ``kind``: what it stands for."""

    path: str
    kind: str


@dataclass
class Drawing:
    nodes: list[Placed]
    edges: list[Edge]
    width: int
    height: int


def graph(nodes: Sequence[tuple[Hashable, dict[str, Any]]], edges: Iterable[tuple[Hashable, Hashable, str]],
          per_column: int = PER_COLUMN) -> Drawing:
    """Place ``nodes`` (id, data) in columns by ``layers`` and draw ``edges`` (from, to, kind) between them.
    Within a layer, nodes keep the order of the mean row of what points to them (fewer crossings), then
    their given order."""
    edge_list = [(a, b, k) for a, b, k in edges]
    layer_of = layers([n for n, _ in nodes], [(a, b) for a, b, _ in edge_list])
    data = dict(nodes)
    preds: dict[Hashable, list[Hashable]] = defaultdict(list)
    for a, b, _ in edge_list:
        if a in data and b in data:
            preds[b].append(a)
    by_layer: dict[int, list[Hashable]] = defaultdict(list)
    for n, _ in nodes:
        by_layer[layer_of[n]].append(n)
    rank: dict[Hashable, float] = {}
    placed: dict[Hashable, Placed] = {}
    x = PAD
    height = 0
    for lay in sorted(by_layer):
        given = {n: i for i, n in enumerate(by_layer[lay])}
        members = sorted(by_layer[lay], key=lambda n: (_mean(rank[p] for p in preds[n] if p in rank), given[n]))
        for i, n in enumerate(members):
            rank[n] = i
            sub, row = divmod(i, per_column)
            placed[n] = Placed(n, x + sub * (NODE_W + SUB_GAP), PAD + row * (NODE_H + GAP_Y), data[n])
            height = max(height, placed[n].y + NODE_H + PAD)
        subs = -(-len(members) // per_column)
        x += subs * NODE_W + (subs - 1) * SUB_GAP + GAP_X
    drawn = [Edge(_curve(placed[a], placed[b]), k) for a, b, k in edge_list if a in placed and b in placed]
    return Drawing(list(placed.values()), drawn, max(x - GAP_X + PAD, 2 * PAD), max(height, 2 * PAD))


def _mean(values: Iterable[float]) -> float:
    got = list(values)
    return sum(got) / len(got) if got else -1.0


def _curve(a: Placed, b: Placed) -> str:
    x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
    x2, y2 = b.x, b.y + NODE_H // 2
    if x2 <= x1:  # same column (a cycle drawn anyway, or a wrapped layer): loop round the right side
        x2, y2 = b.x + NODE_W, b.y + NODE_H // 2
        bend = max(x1, x2) + GAP_X // 2
        return f"M{x1},{y1} C{bend},{y1} {bend},{y2} {x2},{y2}"
    mid = (x1 + x2) // 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"


# -- the timeline --

LABEL_W, ROW_H, AXIS_H, BAR_H = 180, 18, 26, 12
STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
         1800, 3600, 7200, 4 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


def tick_step(span: float, most: int = 8) -> float:
    """The smallest round step (a second, 5 s, a minute...) that cuts ``span`` seconds into ``most`` ticks
    or fewer."""
    for step in STEPS:
        if span / step <= most:
            return step
    return span / most


def offset(seconds: float) -> str:
    """A tick's label: seconds after the start, as ``+0``, ``+1.5s``, ``+2m``, ``+1h30m``."""
    if seconds == 0:
        return "+0"
    if seconds < 1:
        return f"+{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"+{seconds:g}s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"+{m}m" + (f"{s}s" if s else "")
    h, rest = divmod(round(seconds), 3600)
    return f"+{h}h" + (f"{rest // 60}m" if rest // 60 else "")


@dataclass
class Bar:
    x: float
    y: int
    width: float
    data: dict[str, Any]


@dataclass
class Timeline:
    bars: list[Bar]
    rows: list[tuple[int, dict[str, Any]]]  # (y, the row's data)
    ticks: list[tuple[float, str]]  # (x, label)
    width: int
    height: int


def timeline(rows: Sequence[tuple[dict[str, Any], Sequence[tuple[float, float | None, dict[str, Any]]]]],
             now: float, width: int = 900) -> Timeline:
    """One row per ``(row data, attempts)``; an attempt is ``(start, end or None while it runs, data)`` in
    seconds (any epoch). The axis runs from the first start to the last end (``now`` for a running one);
    a bar is at least 2 px wide, so that a 5 ms attempt still shows."""
    spans = [(s, now if e is None else e) for _, attempts in rows for s, e, _ in attempts]
    start = min((s for s, _ in spans), default=now)
    end = max((e for _, e in spans), default=now)
    span = max(end - start, 1e-3)
    plot = width - LABEL_W - PAD
    scale = plot / span
    bars, placed_rows = [], []
    for i, (row, attempts) in enumerate(rows):
        y = AXIS_H + i * ROW_H
        placed_rows.append((y, row))
        for s, e, d in attempts:
            stop = now if e is None else e
            bars.append(Bar(round(LABEL_W + (s - start) * scale, 1), y + (ROW_H - BAR_H) // 2,
                            round(max((stop - s) * scale, 2.0), 1), d))
    step = tick_step(span)
    ticks, t = [], 0.0
    while t <= span + 1e-9:
        ticks.append((round(LABEL_W + t * scale, 1), offset(round(t, 3))))
        t = round(t + step, 6)
    return Timeline(bars, placed_rows, ticks, width, AXIS_H + len(rows) * ROW_H + PAD)
