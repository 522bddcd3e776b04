"""Limits across workers, measured (issue 12): ``python bench/run.py --only g`` (docs/governance.md).

run.py starts one weft worker with 8 pool processes on a fresh database (bench_g); this producer then
(1) submits ``--limited`` tasks of a skill limited to 2 running and computes, from the attempts' start and
end times (the database's clock), the most that ever ran at once; (2) submits ``--rated`` tasks of a skill
limited to 20 claims a second, all at once, and counts the attempts that started in the ``--window`` seconds
from the first start (expected: 20 x window). What is left of the rated job is cancelled at the end.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import django


def max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one moment (an end at the moment another starts is not an overlap)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def limited(n: int) -> dict[str, Any]:
    from weft_django import service
    from weft_django.models import Attempt, Job

    began = time.monotonic()
    job = service.submit_job({"name": "bench limit 2", "tasks": [
        {"key": f"t{i}", "skill": "bench.limited2", "params": {"seconds": 0.01}} for i in range(n)]})
    while Job.objects.filter(pk=job.pk, status="running").exists():
        time.sleep(0.2)
    took = time.monotonic() - began
    spans = list(Attempt.objects.filter(job_id=job.pk).values_list("started_at", "finished_at"))
    status = Job.objects.get(pk=job.pk).status
    return {"tasks": n, "job_status": status, "attempts": len(spans), "limit": 2, "pool_processes": 8,
            "max_overlap": max_overlap([(s, e) for s, e in spans if e is not None]),
            "seconds": round(took, 2), "tasks_per_s": round(n / took, 1)}


def rated(n: int, window: float) -> dict[str, Any]:
    from weft_django import service
    from weft_django.models import Attempt, Decision

    job = service.submit_job({"name": "bench rate 20/s", "tasks": [
        {"key": f"t{i}", "skill": "bench.rated"} for i in range(n)]})
    first = None
    while first is None:
        first = Attempt.objects.filter(job_id=job.pk).order_by("started_at").values_list(
            "started_at", flat=True).first()
        time.sleep(0.1)
    time.sleep(window + 3)  # every start of the window has happened and been written
    end = first + timedelta(seconds=window)
    admitted = Attempt.objects.filter(job_id=job.pk, started_at__gte=first, started_at__lt=end).count()
    deferred = Decision.objects.filter(job_id=job.pk, action="defer").count()
    service.cancel(job.pk)
    expected = 20 * window
    return {"tasks": n, "rate": "20/s", "window_s": window, "admitted": admitted, "expected": expected,
            "error_pct": round(100 * (admitted - expected) / expected, 2), "defer_decisions": deferred}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limited", type=int, default=1000)
    p.add_argument("--rated", type=int, default=1000)
    p.add_argument("--window", type=float, default=30.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    django.setup()
    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)

    result = {"limited": limited(a.limited), "rated": rated(a.rated, a.window)}
    Path(a.out).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
