"""A one-task job as Django's Tasks framework reads it (``weft_django.backends``): its task's status, params,
result and options, and every attempt's worker, times and error."""

from __future__ import annotations

from typing import Any

from ..exceptions import UnknownId
from ..models import Attempt, Job, Task


def lone_task(job_id: Any) -> dict[str, Any]:
    """The job's first task and its attempts, oldest first; UnknownId if there is no such job. Three indexed
    reads by primary key, whatever else the tables hold."""
    try:
        job = Job.objects.values("id", "status", "created_at", "finished_at").get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError, OverflowError):
        raise UnknownId(f"no job with id {job_id!r}") from None
    task = (Task.objects.filter(job_id=job["id"]).order_by("pk")
            .values("id", "skill_name", "params", "status", "result", "error", "queue", "priority", "not_before",
                    "started_at", "finished_at").first())
    if task is None:
        raise UnknownId(f"job {job_id!r} has no task")
    attempts = list(Attempt.objects.filter(task_id=task["id"]).order_by("number")
                    .values("number", "outcome", "worker", "started_at", "finished_at", "error_type",
                            "error_message", "traceback"))
    return {"job": job, "task": task, "attempts": attempts}


def lone_skill(task_id: int) -> tuple[int, str] | None:
    """``(job id, skill name)`` of a task, or None: whether a task is one of the framework's."""
    row = Task.objects.filter(pk=task_id).values_list("job_id", "skill_name").first()
    return None if row is None else (row[0], row[1])
