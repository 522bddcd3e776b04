"""What the Prometheus endpoint (metrics.py) exposes: the state of the work now, read only through the partial
indexes of live tasks (queued, running, awaiting approval) and small tables, so a scrape costs the same at a
million history rows as at none."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Sum
from django.utils import timezone

from ..charts import MINUTES
from ..models import Breaker, SweepRun, Tally, Task, Worker
from ..states import AWAITING_APPROVAL, TaskStatus


def metrics_snapshot() -> dict[str, Any]:
    now = timezone.now()
    by_state: dict[str, list[tuple[str, str, int]]] = {}
    for status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        by_state[str(status)] = [(r["skill_name"], r["queue"], r["n"]) for r in Task.objects.filter(status=status)
                                 .values("skill_name", "queue").annotate(n=Count("pk")).order_by()]
    awaiting = list(Task.objects.filter(status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL)
                    .values_list("skill_name").annotate(n=Count("pk")).order_by())
    due = Task.objects.filter(status=TaskStatus.QUEUED, dispatched_at__lte=now)  # a retry's wait is not a backlog
    oldest = {q: (now - at).total_seconds()
              for q, at in due.values_list("queue").annotate(at=Min("dispatched_at")).order_by() if at is not None}
    workers = dict(Worker.objects.values_list("state").annotate(n=Count("pk")).order_by())
    breakers = {b.provider: (b.open_until is not None and b.open_until > now, b.failures)
                for b in Breaker.objects.all()}
    last = SweepRun.objects.order_by("-pk").values("started_at", "finished_at", "counts", "error").first()
    # Finished work since counting began: the Tally rows (about one per skill, value and minute of the last
    # two hours once the sweep merged them, and the folded totals), summed; never the history tables.
    finished = list(Tally.objects.exclude(kind="queued").values_list("kind", "skill", "value").annotate(n=Sum("n"))
                    .order_by("kind", "skill", "value"))
    return {"queued": by_state["queued"], "running": by_state["running"], "awaiting_approval": awaiting,
            "oldest_queued_seconds": oldest, "workers": workers, "breakers": breakers, "sweep": last,
            "tasks_finished": [(s, v, n) for k, s, v, n in finished if k == "task"],
            "attempts_finished": [(s, v, n) for k, s, v, n in finished if k == "attempt"]}


def last_hour(now: datetime) -> dict[str, dict[str, list[int | None]]]:
    """Per skill, a value a minute for the last hour: tasks finished, failed, and the backlog sampled (None
    where the sweep took no sample). One read of the Tally rows by their unique index's leading column."""
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=MINUTES - 1)
    series: dict[str, dict[str, list[int | None]]] = {}
    for minute, skill, kind, value, n, top in (Tally.objects.filter(minute__gte=start)
                                               .values_list("minute", "skill", "kind", "value")
                                               .annotate(total=Sum("n"), top=Max("n")).order_by()):
        i = int((minute - start).total_seconds() // 60)
        if not 0 <= i < MINUTES or kind == "attempt":
            continue
        s = series.setdefault(skill, {"finished": [0] * MINUTES, "failed": [0] * MINUTES,
                                      "queued": [None] * MINUTES})
        if kind == "queued":  # the samples of a minute not merged yet: the largest
            s["queued"][i] = top
            continue
        s["finished"][i] = (s["finished"][i] or 0) + n
        if value == "failed":
            s["failed"][i] = (s["failed"][i] or 0) + n
    return series
