"""The dashboard's inline SVG charts (charts.py, pure): bars per minute, lines with gaps and dots, figures."""

from __future__ import annotations

from weft_django import charts


def test_bars__one_per_minute_with_work_scaled_to_the_tallest() -> None:
    assert charts.bars([0, 0, 0], 0) == ""
    path = charts.bars([0, 2, 4] + [0] * 57, 4)
    assert path.count("M") == 2
    assert "M3.0,32.0v-16.0" in path and "M6.0,32.0v-32.0" in path


def test_line__gaps_break_it_and_a_lone_minute_is_a_dot() -> None:
    path = charts.line([None, 50.0, 100.0, None, 0.0] + [None] * 55, 100.0)
    assert path == "M4.5,16.0L7.5,2.0M13.5,30.0h0"  # 2 px inside the top and the bottom: a dot is drawn whole
    assert charts.line([None] * 60, 0.0) == ""


def test_per_skill__figures_busiest_first() -> None:
    none: list[int | None] = [None] * 60
    quiet: dict[str, list[int | None]] = {"finished": [0] * 60, "failed": [0] * 60, "queued": [*none[:58], 3, 1]}
    busy: dict[str, list[int | None]] = {"finished": [2] * 60, "failed": [1, *[0] * 59], "queued": none}
    rows = charts.per_skill({"q": quiet, "b": busy})
    assert [r["skill"] for r in rows] == ["b", "q"]
    b, q = rows
    assert (b["finished"], b["failed"], b["per_minute"], b["failure_rate"]) == (120, 1, 2.0, 0.8)
    assert (q["finished"], q["per_minute"], q["queued_now"], q["queued_peak"]) == (0, None, 1, 3)
    assert all(c in "0123456789.,MLhvz-" for c in b["throughput_path"] + b["failure_path"] + q["queue_path"])
