"""The job graph's layout (layers by longest path, wrapped columns), the timeline's axis, and the units
a page shows numbers in."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from weft_django import layout, units


def test_layers__longest_path_decides_the_column() -> None:
    # a -> b -> c and a -> c: c is in layer 2 (the long way round), not 1.
    assert layout.layers("abcd", [("a", "b"), ("b", "c"), ("a", "c")]) == {"a": 0, "b": 1, "c": 2, "d": 0}


def test_layers__diamond_and_unknown_edges() -> None:
    got = layout.layers([1, 2, 3, 4], [(1, 2), (1, 3), (2, 4), (3, 4), (4, 99), (7, 1)])
    assert got == {1: 0, 2: 1, 3: 1, 4: 2}


def test_layers__a_cycle_still_gets_a_column_past_the_rest() -> None:
    got = layout.layers("abc", [("a", "b"), ("b", "c"), ("c", "b")])
    assert got["a"] == 0 and got["b"] == got["c"] == 1


def test_graph__edges_point_right_and_a_wide_layer_wraps() -> None:
    nodes: list[tuple[Hashable, dict[str, Any]]] = [("src", {}), *((f"n{i}", {}) for i in range(45)), ("sink", {})]
    edges = [("src", f"n{i}", "dependency") for i in range(45)] + [(f"n{i}", "sink", "dependency") for i in range(45)]
    d = layout.graph(nodes, edges, per_column=20)
    at = {p.id: p for p in d.nodes}
    assert len(d.nodes) == 47 and len(d.edges) == 90
    # 45 nodes in layer 1 wrap into 3 sub-columns of at most 20 rows.
    xs = sorted({at[f"n{i}"].x for i in range(45)})
    assert len(xs) == 3 and at["src"].x < xs[0] and at["sink"].x > xs[-1]
    assert max(at[f"n{i}"].y for i in range(45)) == layout.PAD + 19 * (layout.NODE_H + layout.GAP_Y)
    assert all(p.x + layout.NODE_W <= d.width and p.y + layout.NODE_H <= d.height for p in d.nodes)
    for e in d.edges:  # every curve starts on a right side and ends on a left side further right
        start, end = e.path.split(" ")[0][1:], e.path.split(" ")[-1]
        assert float(start.split(",")[0]) < float(end.split(",")[0])


def test_graph__a_node_follows_the_row_of_what_points_to_it() -> None:
    # b2 comes first in the given order, but its upstream a2 is below a1: b1 (under a1) goes first.
    d = layout.graph([("a1", {}), ("a2", {}), ("b2", {}), ("b1", {})], [("a1", "b1", "d"), ("a2", "b2", "d")])
    at = {p.id: p for p in d.nodes}
    assert at["b1"].y < at["b2"].y and at["b1"].y == at["a1"].y


def test_timeline__bars_on_one_axis_and_round_ticks() -> None:
    rows: list[tuple[dict[str, Any], list[tuple[float, float | None, dict[str, Any]]]]] = [
            ({"key": "a"}, [(100.0, 110.0, {"n": 1}), (112.0, 130.0, {"n": 2})]),
            ({"key": "b"}, [(130.0, None, {"n": 1})])]
    t = layout.timeline(rows, now=160.0, width=760)
    first, retry, running = t.bars
    assert first.x == layout.LABEL_W and first.y == retry.y < running.y
    assert retry.x > first.x + first.width  # the retry starts after the first attempt ended, on the same row
    assert running.x + running.width == 760 - layout.PAD  # a running attempt reaches "now"
    assert [label for _, label in t.ticks] == ["+0", "+10s", "+20s", "+30s", "+40s", "+50s", "+1m"]
    assert layout.tick_step(3 * 3600) == 1800 and layout.offset(5400) == "+1h30m"


def test_units__human_numbers() -> None:
    assert units.megabytes(203.4765625) == "203 MB" and units.megabytes(0.5) == "512 KB"
    assert units.megabytes(3.25) == "3.2 MB" and units.megabytes(1536) == "1.5 GB"
    assert units.cost(0.07200000000000001) == "0.072" and units.cost(12.5) == "12.5"
    assert units.seconds(0.0123) == "12 ms" and units.seconds(1.44) == "1.4 s" and units.seconds(185) == "3 min 5 s"
    assert units.seconds(7800) == "2 h 10 min" and units.seconds(3 * 86400 + 4 * 3600) == "3 d 4 h"
    assert units.exit_code(-9) == "killed by SIGKILL" and units.exit_code(-15) == "killed by SIGTERM"
    assert units.exit_code(3) == "exit 3" and units.exit_code(None) == ""
    assert units.exit_code(-200) == "killed by signal 200"


def test_timeline__a_span_under_a_second_gets_millisecond_ticks() -> None:
    t = layout.timeline([({}, [(0.0, 0.004, {})])], now=1.0, width=500)
    assert [label for _, label in t.ticks] == ["+0", "+1ms", "+2ms", "+3ms", "+4ms"]
    assert units.ago(0.2) == "just now" and units.ago(42) == "42 s ago" and units.ago(3700) == "1 h ago"
