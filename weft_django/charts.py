"""The dashboard's last hour per skill as small inline SVG charts (pure: no Django). Paths are built here from
numbers only, so the template can put them in ``d=""`` as they are; no script draws them and nothing is
fetched from elsewhere, so the page works offline and is redrawn with the rest of the dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MINUTES = 60
WIDTH, HEIGHT = 180.0, 32.0  # one chart; a minute is WIDTH / MINUTES wide
PAD = 2.0  # a line keeps this far from the top and the bottom, so a dot at 0 % or 100 % is drawn whole


def bars(values: Sequence[float], top: float) -> str:
    """One bar per minute, scaled to ``top`` (the tallest), from the baseline up."""
    if top <= 0:
        return ""
    step = WIDTH / len(values)
    out = []
    for i, v in enumerate(values):
        if v > 0:
            h = max(1.0, HEIGHT * v / top)
            out.append(f"M{i * step:.1f},{HEIGHT:.1f}v{-h:.1f}h{max(step - 0.6, 0.6):.1f}v{h:.1f}z")
    return "".join(out)


def line(values: Sequence[float | None], top: float) -> str:
    """A line through the minutes that have a value (None: a gap), scaled to ``top``."""
    if top <= 0:
        return ""
    step = WIDTH / len(values)
    out, pen = [], "M"
    for i, v in enumerate(values):
        if v is None:
            pen = "M"
            continue
        lone = (i == 0 or values[i - 1] is None) and (i + 1 == len(values) or values[i + 1] is None)
        # A minute alone between gaps is a dot: a stroke of no length, drawn by the round line cap.
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * min(v, top) / top
        out.append(f"{pen}{(i + 0.5) * step:.1f},{y:.1f}{'h0' if lone else ''}")
        pen = "L"
    return "".join(out)


def per_skill(series: Mapping[str, Mapping[str, Sequence[int | None]]]) -> list[dict[str, Any]]:
    """A row per skill, busiest first: throughput (tasks finished a minute, bars), failure rate (failed of
    finished, a line over 0-100 %), queue depth (the sweep's samples, a line), with the figures beside them."""
    rows = []
    for skill, s in series.items():
        finished, failed = [f or 0 for f in s["finished"]], [f or 0 for f in s["failed"]]
        queued = [None if q is None else float(q) for q in s["queued"]]
        done, bad = sum(finished), sum(failed)
        rates = [None if f == 0 else 100.0 * x / f for f, x in zip(finished, failed, strict=True)]
        sampled = [int(q) for q in queued if q is not None]
        rows.append({
            "skill": skill, "finished": done, "failed": bad,
            "per_minute": round(done / MINUTES, 1) if done >= MINUTES / 10 else None,  # none below 0.1 a minute
            "failure_rate": round(100.0 * bad / done, 1) if done else 0.0,
            "queued_now": sampled[-1] if sampled else 0, "queued_peak": max(sampled, default=0),
            "throughput_path": bars(finished, max(finished, default=0)),
            "failure_path": line(rates, 100.0),
            "queue_path": line(queued, float(max(sampled, default=0)) or 1.0),
        })
    return sorted(rows, key=lambda r: (-r["finished"], -r["queued_peak"], r["skill"]))
