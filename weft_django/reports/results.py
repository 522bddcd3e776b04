"""A job's results: every task's as they are now (partial while it runs), and the value ``service.result``
returns once it succeeded; both a page of the job's tasks at a time."""

from __future__ import annotations

from typing import Any

from ..models import Artifact, Task
from .jobs import get_job, page_bounds, task_page


def results(job_id: Any, *, limit: int | None = None, after: int | None = None) -> dict[str, Any]:
    """Per-task status, result, error and artifacts, as they are now (partial while the job runs).

    ``limit`` bounds the page (tasks in id order, after task id ``after``); ``next_after`` is the ``after`` of
    the next page, None on the last. Without a limit every task is read: a huge job's tasks are better paged.
    """
    job = get_job(job_id)
    limit, start = page_bounds(limit, after)
    rows, next_after = task_page(Task.objects.filter(job_id=job.pk), limit, start,
                                  "key", "status", "result", "error", "attempts")
    artifact_rows = (Artifact.objects.filter(job_id=job.pk) if limit is None and not start
                     else Artifact.objects.filter(task_id__in=[r[0] for r in rows]))
    artifacts: dict[int, dict[str, Any]] = {}
    for task_id, name, value in artifact_rows.values_list("task_id", "name", "value"):
        artifacts.setdefault(task_id, {})[name] = value
    tasks = {key: {"status": st, "result": r, "error": e, "attempts": n, "artifacts": artifacts.get(pk, {})}
             for pk, key, st, r, e, n in rows}
    return {"id": job.pk, "status": job.status, "complete": job.status != "running", "tasks": tasks,
            "next_after": next_after}


def result_page(job_id: Any, *, limit: int | None = None, after: int | None = None) -> tuple[Any, int | None]:
    """What ``service.result`` returns for a job that succeeded: the value of its one submitted task (its
    children, if it decomposed, are folded into it), else ``{key: value}`` of its top-level tasks, at most
    ``limit`` of them after task id ``after``; and the next page's ``after``."""
    job = get_job(job_id)
    limit, start = page_bounds(limit, after)
    rows, next_after = task_page(Task.objects.filter(job_id=job.pk, parent__isnull=True), limit, start,
                                  "key", "result")
    if not start and len(rows) == 1 and next_after is None:
        return rows[0][2], None
    return {key: value for _, key, value in rows}, next_after


