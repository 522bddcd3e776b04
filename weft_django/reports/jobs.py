"""A job's own reads: the job, its status and why its queued tasks wait, a page of its tasks, its failures,
its spec (what ``rerun`` submits again), its attempts and a task's state."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from .. import options, units, workers
from ..capabilities import base_queue
from ..exceptions import InvalidInput, UnknownId
from ..models import Attempt, Dependency, Job, Task
from ..states import JobStatus, TaskStatus
from .loops import job_loops


def get_job(job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=_pk(job_id))
    except Job.DoesNotExist:
        raise UnknownId(f"no job with id {job_id!r}") from None
    except UnknownId:
        raise UnknownId(f"no job with id {job_id!r}") from None


def task_pk(task_id: Any) -> int:
    """``task_id`` as a task's primary key (a whole number, or its digits), else UnknownId: the operator actions
    on a task take what a caller hands them, and "abc" failed in the query with a ValueError."""
    try:
        return _pk(task_id)
    except UnknownId:
        raise UnknownId(f"no task with id {task_id!r}") from None


def _pk(value: Any) -> int:
    # int(1.5) and int(True) would quietly name another row; "12" is a caller's id as text (a URL's, a CLI's).
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = units.whole_number(value.strip()) if isinstance(value, str) else None
    if number is None:
        raise UnknownId(f"no row with id {value!r}")
    return number


def status(job_id: Any) -> dict[str, Any]:
    """State, counts per task state, progress, and why queued tasks wait (``waiting``: their queue has no
    live worker); one indexed aggregate, whatever the job's size, and one more while tasks are queued."""
    job = get_job(job_id)
    counts = dict(Task.objects.filter(job_id=job.pk).values_list("status").annotate(n=Count("pk")).order_by())
    done = job.tasks_total - max(job.tasks_open, 0)
    return {
        "id": job.pk, "name": job.name, "status": job.status, "stop_reason": job.stop_reason,
        "waiting": waiting(job, counts.get(TaskStatus.QUEUED, 0)),
        "tasks": {s: counts[s] for s in TaskStatus.values if counts.get(s)},
        "total": job.tasks_total, "done": done,
        "progress": round(done / job.tasks_total, 4) if job.tasks_total else 1.0,
        "cost": job.cost, "tokens": job.tokens, "max_tokens": job.max_tokens,
        **({"tokens_used": units.tokens(job.tokens, job.max_tokens)} if job.tokens or job.max_tokens else {}),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        **({"loops": loops} if (loops := job_loops(job.pk)) else {}),
    }


WAITING_SHOWN = 10  # tasks held back by a limit or a lock named one by one; the rest counted


def waiting(job: Job, queued: int | None = None) -> list[str]:
    """Why the job's queued tasks wait: each of their queues that no live worker reads, and the tasks held back
    at their claim by a concurrency limit, a rate limit or a lock (``queued``: how many are queued, if known)."""
    if job.status != JobStatus.RUNNING or queued == 0:
        return []
    queued_tasks = Task.objects.filter(job_id=job.pk, status=TaskStatus.QUEUED)
    queues = queued_tasks.values_list("queue", flat=True)
    out = [workers.waiting_reason(q) for q in workers.unread(queues.distinct().order_by())]
    held = list(queued_tasks.filter(governed=True).exclude(waiting_for="").order_by("pk")
                .values_list("pk", "key", "waiting_for")[:WAITING_SHOWN + 1])
    out += [f"task {pk} {key!r}: {why}" for pk, key, why in held[:WAITING_SHOWN]]
    if len(held) > WAITING_SHOWN:
        more = queued_tasks.filter(governed=True).exclude(waiting_for="").count() - WAITING_SHOWN
        out.append(f"and {more} more task(s) held back by limits or locks")
    return out


def page_bounds(limit: Any, after: Any) -> tuple[int | None, int]:
    """``limit`` (None: no bound) and ``after`` (a task id, the previous page's ``next_after``; None: from the
    start) checked: a page of a job's tasks in id order, read with a bounded query whatever the job's size."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInput("limit", f"must be a whole number of 1 or more, got {limit!r}")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise InvalidInput("after", f"must be a task id (a whole number of 0 or more), got {after!r}")
    return limit, after or 0


def task_page(tasks: QuerySet[Task], limit: int | None, after: int,
               *fields: str) -> tuple[list[tuple[Any, ...]], int | None]:
    """``tasks`` after task id ``after``, at most ``limit``, as ``(pk, *fields)`` rows; and the cursor of the
    next page (None on the last one)."""
    rows = tasks.filter(pk__gt=after).order_by("pk").values_list("pk", *fields)
    if limit is None:
        return list(rows), None
    page = list(rows[:limit + 1])
    return page[:limit], page[limit - 1][0] if len(page) > limit else None




FAILURES_SHOWN = 5  # the errors a failed job's result names (a job of 60,000 failed tasks has one line)


def failures(job_id: Any) -> str:
    """The errors of a job's top-level tasks that did not succeed, the first few of them and how many more."""
    failed = (Task.objects.filter(job_id=job_id, parent__isnull=True).exclude(status=TaskStatus.SUCCEEDED)
              .exclude(error="").order_by("pk"))
    errors = list(failed.values_list("key", "error")[:FAILURES_SHOWN + 1])
    text = "; ".join(f"{k}: {e}" for k, e in errors[:FAILURES_SHOWN])
    if len(errors) > FAILURES_SHOWN:
        text += f"; and {failed.count() - FAILURES_SHOWN} more"
    return text


def job_spec(job_id: Any) -> dict[str, Any]:
    """The job as a JobSpec document (what ``weft_submit --file`` reads): its submitted tasks with their
    effective settings and dependencies, its budget (a deadline as seconds from submission), name and
    labels. Tasks created at run time (decomposition children, needs) are left out: the skills make them
    again."""
    job = get_job(job_id)
    tasks = list(Task.objects.filter(job_id=job.pk, parent__isnull=True).order_by("pk")
                 .values("pk", "key", "skill_name", "skill_version", "params", *options.COLUMNS))
    keys = {t["pk"]: t["key"] for t in tasks}
    deps: dict[int, list[str]] = {}
    for up, down in (Dependency.objects.filter(downstream_id__in=keys, upstream_id__in=keys).order_by("pk")
                     .values_list("upstream_id", "downstream_id")):
        deps.setdefault(down, []).append(keys[up])
    budget: dict[str, Any] = {k: v for k, v in (("max_attempts", job.max_attempts), ("max_cost", job.max_cost),
                                                ("max_tokens", job.max_tokens)) if v is not None}
    if job.deadline is not None:
        budget["deadline"] = max(1.0, round((job.deadline - job.created_at).total_seconds(), 3))
    return {
        "name": job.name, "labels": dict(job.labels or {}), "budget": budget,
        "tasks": [{"key": t["key"], "skill": t["skill_name"], options.VERSION.name: t["skill_version"],
                   "params": t["params"],
                   **{o.name: t[o.column] for o in options.OPTIONS}, "queue": base_queue(t["queue"]),
                   **({"depends_on": deps[t["pk"]]} if t["pk"] in deps else {})} for t in tasks],
    }



def attempts(job_id: int) -> list[dict[str, Any]]:
    """The job's attempts, oldest first: which task, which try, how it ended, where, how long, and why
    (what ``weft_status`` prints)."""
    rows = (Attempt.objects.filter(job_id=job_id).order_by("task_id", "number")
            .values("task__key", "number", "outcome", "worker", "pid", "started_at", "finished_at", "duration",
                    "exit_code", "limit_hit", "error_type", "error_message"))
    return [{
        "task": r["task__key"], "number": r["number"], "outcome": r["outcome"], "worker": r["worker"],
        "pid": r["pid"], "started_at": r["started_at"].isoformat(),
        "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None,
        "duration": r["duration"], "exit_code": r["exit_code"], "limit_hit": r["limit_hit"],
        "error": f"{r['error_type']}: {r['error_message']}" if r["error_type"] else r["error_message"],
    } for r in rows]


def task_status(task_id: int) -> str | None:
    """A task's status now; None if there is no such task."""
    return Task.objects.filter(pk=task_id).values_list("status", flat=True).first()
