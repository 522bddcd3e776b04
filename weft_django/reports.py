"""Reads for people: a job's status, its (partial) results, and ``explain``: why it ended as it did,
told only from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.db.models.functions import Now
from django.utils import timezone

from . import registry, workers
from .conf import settings
from .exceptions import NotFound
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


def results(job_id: Any) -> dict[str, Any]:
    """Per-task status, result, error and artifacts, as they are now (partial while the job runs)."""
    job = get_job(job_id)
    artifacts: dict[int, dict[str, Any]] = {}
    for task_id, name, value in Artifact.objects.filter(job_id=job.pk).values_list("task_id", "name", "value"):
        artifacts.setdefault(task_id, {})[name] = value
    tasks = {
        key: {"status": s, "result": r, "error": e, "attempts": n, "artifacts": artifacts.get(pk, {})}
        for pk, key, s, r, e, n in Task.objects.filter(job_id=job.pk).order_by("pk")
        .values_list("pk", "key", "status", "result", "error", "attempts")
    }
    return {"id": job.pk, "status": job.status, "complete": job.status != "running", "tasks": tasks}


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


def explain(job_id: Any) -> str:
    """Why the job succeeded, failed or stopped: which task, which attempts, which limit or upstream."""
    job = get_job(job_id)
    decisions = list(Decision.objects.filter(job_id=job.pk).order_by("pk")
                     .values_list("task__key", "action", "reason", "policy", "attempt__number"))
    attempts: dict[str, list[tuple[Any, ...]]] = {}
    for key, *rest in (Attempt.objects.filter(job_id=job.pk).order_by("task_id", "number")
                       .values_list("task__key", "number", "outcome", "error_type", "error_message", "limit_hit",
                                    "duration", "worker")):
        attempts.setdefault(key, []).append(tuple(rest))
    title = f"Job {job.pk}{f' ({job.name})' if job.name else ''} {job.status}"
    lines = [f"{title}{': ' + job.stop_reason if job.stop_reason else '.'}"]
    cause = _cause(job.status, decisions)
    if cause:
        lines.append(f"Cause: {cause}")
    lines += [f"Waiting: {reason}" for reason in _waiting(job)]
    lines.append("")
    lines.append("Decisions:")
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
    return "\n".join(lines)


def _cause(status: str, decisions: list[tuple[Any, ...]]) -> str:
    """The decision that ended the job: a stop, a cancel, or the first task that failed for good."""
    for key, action, reason, _, _ in reversed(decisions):
        if action in (DecisionAction.STOP_JOB, DecisionAction.CANCEL) and key is None:
            return reason
    if status == "failed":
        for key, action, reason, _, number in decisions:
            if action == DecisionAction.FAIL:
                at = f" on attempt {number}" if number else ""
                return f"task {key!r} failed{at}: {reason}"
            if action == DecisionAction.REJECT:
                return f"task {key!r} was {reason}"
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
