"""Reads for people: a job's status, its (partial) results, and ``explain``: why it ended as it did,
told only from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from . import registry, workers
from .conf import settings
from .exceptions import NotFound, ValidationError
from .models import Artifact, Attempt, Decision, Dependency, Job, SweepRun, Task, Worker
from .states import AWAITING_APPROVAL, DecisionAction, JobStatus, TaskStatus


def get_job(job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no job with id {job_id!r}") from None


def status(job_id: Any) -> dict[str, Any]:
    """State, counts per task state, progress, and why queued tasks wait (``waiting``: their queue has no
    live worker); one indexed aggregate, whatever the job's size, and one more while tasks are queued."""
    job = get_job(job_id)
    counts = dict(Task.objects.filter(job_id=job.pk).values_list("status").annotate(n=Count("pk")).order_by())
    done = job.tasks_total - max(job.tasks_open, 0)
    return {
        "id": job.pk, "name": job.name, "status": job.status, "stop_reason": job.stop_reason,
        "waiting": _waiting(job, counts.get(TaskStatus.QUEUED, 0)),
        "tasks": {s: counts[s] for s in TaskStatus.values if counts.get(s)},
        "total": job.tasks_total, "done": done,
        "progress": round(done / job.tasks_total, 4) if job.tasks_total else 1.0,
        "cost": job.cost, "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _waiting(job: Job, queued: int | None = None) -> list[str]:
    """Why the job's queued tasks wait, for each of their queues that no live worker reads (``queued``: how
    many tasks are queued, if known)."""
    if job.status != JobStatus.RUNNING or queued == 0:
        return []
    queues = Task.objects.filter(job_id=job.pk, status=TaskStatus.QUEUED).values_list("queue", flat=True)
    return [workers.waiting_reason(q) for q in workers.unread(queues.distinct().order_by())]


def page_bounds(limit: Any, after: Any) -> tuple[int | None, int]:
    """``limit`` (None: no bound) and ``after`` (a task id, the previous page's ``next_after``; None: from the
    start) checked: a page of a job's tasks in id order, read with a bounded query whatever the job's size."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationError("limit", f"must be a whole number of 1 or more, got {limit!r}")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise ValidationError("after", f"must be a task id (a whole number of 0 or more), got {after!r}")
    return limit, after or 0


def _task_page(tasks: QuerySet[Task], limit: int | None, after: int,
               *fields: str) -> tuple[list[tuple[Any, ...]], int | None]:
    """``tasks`` after task id ``after``, at most ``limit``, as ``(pk, *fields)`` rows; and the cursor of the
    next page (None on the last one)."""
    rows = tasks.filter(pk__gt=after).order_by("pk").values_list("pk", *fields)
    if limit is None:
        return list(rows), None
    page = list(rows[:limit + 1])
    return page[:limit], page[limit - 1][0] if len(page) > limit else None


def results(job_id: Any, *, limit: int | None = None, after: int | None = None) -> dict[str, Any]:
    """Per-task status, result, error and artifacts, as they are now (partial while the job runs).

    ``limit`` bounds the page (tasks in id order, after task id ``after``); ``next_after`` is the ``after`` of
    the next page, None on the last. Without a limit every task is read: a huge job's tasks are better paged.
    """
    job = get_job(job_id)
    limit, start = page_bounds(limit, after)
    rows, next_after = _task_page(Task.objects.filter(job_id=job.pk), limit, start,
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
    rows, next_after = _task_page(Task.objects.filter(job_id=job.pk, parent__isnull=True), limit, start,
                                  "key", "result")
    if not start and len(rows) == 1 and next_after is None:
        return rows[0][2], None
    return {key: value for _, key, value in rows}, next_after


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
                 .values("pk", "key", "skill_name", "params", "limits", "retry", "timeout", "queue", "priority"))
    keys = {t["pk"]: t["key"] for t in tasks}
    deps: dict[int, list[str]] = {}
    for up, down in (Dependency.objects.filter(downstream_id__in=keys, upstream_id__in=keys).order_by("pk")
                     .values_list("upstream_id", "downstream_id")):
        deps.setdefault(down, []).append(keys[up])
    budget: dict[str, Any] = {k: v for k, v in (("max_attempts", job.max_attempts), ("max_cost", job.max_cost))
                              if v is not None}
    if job.deadline is not None:
        budget["deadline"] = max(1.0, round((job.deadline - job.created_at).total_seconds(), 3))
    return {
        "name": job.name, "labels": dict(job.labels or {}), "budget": budget,
        "tasks": [{"key": t["key"], "skill": t["skill_name"], "params": t["params"], "limits": t["limits"],
                   "retry": t["retry"], "timeout": t["timeout"], "queue": t["queue"], "priority": t["priority"],
                   **({"depends_on": deps[t["pk"]]} if t["pk"] in deps else {})} for t in tasks],
    }


def explain(job_id: Any, *, limit: int | None = None, after: int | None = None) -> str:
    """Why the job succeeded, failed or stopped: which task, which attempts, which limit or upstream.

    ``limit`` and ``after`` bound it to a page of the job's tasks as ``results`` does (the text then ends with
    where the next page starts); ``explain_page`` also returns that cursor."""
    return str(explain_page(job_id, limit=limit, after=after)["explain"])


def explain_page(job_id: Any, *, limit: int | None = None, after: int | None = None) -> dict[str, Any]:
    """``{"explain": text, "next_after": task id or None}``: the title and the cause on every page; the
    job's own decisions on the first; the decisions and attempts of a page of its tasks."""
    job = get_job(job_id)
    limit, start = page_bounds(limit, after)
    if limit is None and not start:
        scope, next_after = Q(job_id=job.pk), None
    else:
        rows, next_after = _task_page(Task.objects.filter(job_id=job.pk), limit, start)
        scope = Q(task_id__in=[pk for pk, in rows])
    fields = ("task__key", "action", "reason", "policy", "attempt__number")
    own = Q(job_id=job.pk, task__isnull=True)
    decisions = list(Decision.objects.filter(scope | own if not start else scope).order_by("pk").values_list(*fields))
    # The cause: from the job's own decisions and its first failure, wherever they are on the pages.
    job_level = ([d for d in decisions if d[0] is None] if not start
                 else list(Decision.objects.filter(own).order_by("pk").values_list(*fields)))
    first_failure = (Decision.objects.filter(job_id=job.pk, task__isnull=False)
                     .filter(Q(action__in=(DecisionAction.FAIL, DecisionAction.REJECT))
                             | Q(action=DecisionAction.RECOVER) & ~Q(policy__in=_RECOVERED))
                     .order_by("pk").values_list(*fields).first())
    cause = _cause(job.status, [*job_level, *([first_failure] if first_failure else [])])
    attempts: dict[str, list[tuple[Any, ...]]] = {}
    for key, *rest in (Attempt.objects.filter(scope).order_by("task_id", "number")
                       .values_list("task__key", "number", "outcome", "error_type", "error_message", "limit_hit",
                                    "duration", "worker")):
        attempts.setdefault(key, []).append(tuple(rest))
    title = f"Job {job.pk}{f' ({job.name})' if job.name else ''} {job.status}"
    lines = [f"{title}{': ' + job.stop_reason if job.stop_reason else '.'}"]
    if cause:
        lines.append(f"Cause: {cause}")
    lines += [f"Waiting: {reason}" for reason in _waiting(job)]
    lines += _story(decisions, attempts)
    if next_after is not None:
        lines.append("")
        lines.append(f"More tasks follow: the next page starts after task {next_after}.")
    return {"explain": "\n".join(lines), "next_after": next_after}


def _story(decisions: list[tuple[Any, ...]], attempts: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    """The lines of ``explain`` after the cause: the decisions in order, then each task's attempts."""
    lines = ["", "Decisions:"]
    for key, action, reason, policy, number in decisions:
        who = f"task {key!r}" if key else "job"
        at = f" (attempt {number})" if number else ""
        lines.append(f"  - {who}{at}: {action}: {reason}" + (f"  [{policy}]" if policy else ""))
    if attempts:
        lines.append("")
        lines.append("Attempts:")
        for key, rows in attempts.items():
            for number, outcome, etype, message, limit, duration, worker in rows:
                detail = f" {etype}: {message}" if etype or message else ""
                limit_note = f" (limit {limit})" if limit else ""
                took = f" in {duration:.2f} s" if duration is not None else ""
                lines.append(f"  - {key!r} #{number} {outcome}{limit_note}{took}{detail}"
                             + (f" on {worker}" if worker else ""))
    return lines


# The policies of the recover decisions after which a lost task goes on (retried, sent again) or is
# cancelled; the sweep's other recover decisions failed their task (its attempts were lost).
_RECOVERED = ("retry.backoff", "recover.redispatch", "recover.cancel")


def _cause(status: str, decisions: list[tuple[Any, ...]]) -> str:
    """The decision that ended the job: a stop, a cancel, or the first task that failed for good (an error,
    a rejection, or a lost attempt with none left)."""
    for key, action, reason, _, _ in reversed(decisions):
        if action in (DecisionAction.STOP_JOB, DecisionAction.CANCEL) and key is None:
            return reason
    if status == "failed":
        for key, action, reason, _, number in decisions:
            if action == DecisionAction.REJECT:
                return f"task {key!r} was {reason}"
            if action in (DecisionAction.FAIL, DecisionAction.RECOVER):
                # A recover's reason: "attempt 2 of 2 was lost (its lease expired); no attempts left (...)".
                at = f" on attempt {number}" if number else ""
                return f"task {key!r} failed{at}: {reason.removesuffix('; the task failed')}"
    if status == "succeeded":
        return "every task succeeded"
    return ""


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
