"""What runs and waits now, across jobs: the running tasks (``weft_ps``), the queues no worker reads, and
the dashboard's overview."""

from __future__ import annotations

from typing import Any

from django.db.models.functions import Now
from django.utils import timezone

from .. import registry, workers
from ..conf import settings
from ..models import Attempt, Job, SweepRun, Task, Worker
from ..states import AWAITING_APPROVAL, TaskStatus


def known_queues() -> set[str]:
    """The queues weft sends tasks to: WEFT_QUEUES, or unset, the default and sweep queues, the skills'
    queues and every queue a worker has read (a submission may then name any other: its job's ``status``
    still says why it waits)."""
    if settings.QUEUES is not None:
        return set(settings.QUEUES)
    queues = {settings.DEFAULT_QUEUE, settings.SWEEP_QUEUE or settings.DEFAULT_QUEUE}
    queues.update(d.queue for d in registry.all_skills() if d.queue)
    queues.update(str(q) for row in Worker.objects.values_list("queues", flat=True) for q in (row or ()))
    return queues


def unread_queues() -> list[dict[str, Any]]:
    """Known queues that hold queued tasks and that no live worker reads: their tasks wait forever.

    Queues are counted only when no live worker reads them, so while every known queue is read (the
    usual case) this reads no task row; a count reads the queued tasks (weft_task_queued_idx) and their
    queue column.
    """
    out = []
    for queue in workers.unread(known_queues()):
        n = Task.objects.filter(status=TaskStatus.QUEUED, queue=queue).count()
        if n:
            out.append({"queue": queue, "queued": n, "reason": workers.waiting_reason(queue)})
    return out


def running_tasks() -> list[dict[str, Any]]:
    """Running tasks, longest running first, with their open attempt (worker, pid)."""
    now = timezone.now()
    tasks = list(Task.objects.running().annotate(db_now=Now()).order_by("started_at", "pk")
                 .values("pk", "job_id", "key", "skill_name", "attempts", "worker", "started_at",
                         "lease_expires_at", "cancel_requested", "db_now"))
    pids = dict(Attempt.objects.filter(task_id__in=[t["pk"] for t in tasks], outcome="running")
                .values_list("task_id", "pid"))
    return [{
        "task": t["pk"], "job": t["job_id"], "key": t["key"], "skill": t["skill_name"], "attempt": t["attempts"],
        "worker": t["worker"], "pid": pids.get(t["pk"]),
        "running_for": round(((t["db_now"] or now) - t["started_at"]).total_seconds(), 3) if t["started_at"] else None,
        "lease_left": round((t["lease_expires_at"] - (t["db_now"] or now)).total_seconds(), 3)
        if t["lease_expires_at"] else None,
        "cancel_requested": t["cancel_requested"],
    } for t in tasks]


RECENT = 20
FAILURE_WINDOW = 1000  # recent failures are looked for among this many newest jobs (a bounded read)


def overview() -> dict[str, Any]:
    """What an operator looks at first (the dashboard): what runs, waits, failed lately; workers; the sweep.

    Every read is bounded or served by an index, whatever the size of the tables.
    """
    newest = Job.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    recent = list(Job.objects.order_by("-pk").values("pk", "name", "status", "stop_reason", "tasks_total",
                                                     "tasks_open", "created_at")[:RECENT])
    failures = list(Job.objects.filter(pk__gt=newest - FAILURE_WINDOW, status__in=("failed", "stopped"))
                    .order_by("-pk").values("pk", "name", "status", "stop_reason", "finished_at")[:RECENT])
    awaiting = list(Task.objects.filter(status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL)
                    .order_by("pk").values("pk", "job_id", "key", "skill_name", "created_at")[:RECENT])
    return {
        "running": running_tasks(),
        "queued": Task.objects.filter(status=TaskStatus.QUEUED).count(),  # weft_task_queued_idx
        "unread_queues": unread_queues(),
        "awaiting_approval": awaiting,
        "recent_jobs": [{**j, "done": j["tasks_total"] - max(j["tasks_open"], 0)} for j in recent],
        "recent_failures": failures,
        "workers": list(Worker.objects.order_by("hostname").values("hostname", "pid", "state", "queues",
                                                                    "last_heartbeat")),
        "last_sweep": SweepRun.objects.order_by("-started_at").values("started_at", "finished_at", "counts",
                                                                       "error", "host").first(),
    }
