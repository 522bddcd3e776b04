"""What a notification says about a job or a task (notifications.py): plain JSON, no secrets."""

from __future__ import annotations

from typing import Any

from ..models import Job, Task
from .jobs import failures


def event_job(job_id: int) -> dict[str, Any] | None:
    row = Job.objects.filter(pk=job_id).values("id", "name", "status", "stop_reason", "labels", "cost", "tasks_total",
                                               "tasks_failed", "created_at", "finished_at").first()
    if row is None:
        return None
    job: dict[str, Any] = dict(row)
    for when in ("created_at", "finished_at"):
        job[when] = job[when].isoformat() if job[when] else None
    if job["status"] != "succeeded":
        job["cause"] = job["stop_reason"] or failures(job_id)
    return job


def event_task(task_id: int) -> dict[str, Any] | None:
    task = Task.objects.filter(pk=task_id).values("id", "key", "skill_name", "status", "error", "attempts").first()
    if task is None:
        return None
    return {"id": task["id"], "key": task["key"], "skill": task["skill_name"], "status": task["status"],
            "error": task["error"], "attempts": task["attempts"]}
