"""What the Prometheus endpoint (metrics.py) exposes: the state of the work now, read only through the partial
indexes of live tasks (queued, running, awaiting approval) and small tables, so a scrape costs the same at a
million history rows as at none."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from ..models import Breaker, SweepRun, Task, Worker
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
    return {"queued": by_state["queued"], "running": by_state["running"], "awaiting_approval": awaiting,
            "oldest_queued_seconds": oldest, "workers": workers, "breakers": breakers, "sweep": last}
