"""Reads for people: a job's status, its (partial) results, and ``explain``: why it ended as it did,
told only from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from .exceptions import NotFound
from .models import Artifact, Attempt, Decision, Job, Task
from .states import DecisionAction, TaskStatus


def get_job(job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no job with id {job_id!r}") from None


def status(job_id: Any) -> dict[str, Any]:
    """State, counts per task state, and progress; one indexed aggregate, whatever the job's size."""
    job = get_job(job_id)
    counts = dict(Task.objects.filter(job_id=job.pk).values_list("status").annotate(n=Count("pk")).order_by())
    done = job.tasks_total - max(job.tasks_open, 0)
    return {
        "id": job.pk, "name": job.name, "status": job.status, "stop_reason": job.stop_reason,
        "tasks": {s: counts[s] for s in TaskStatus.values if counts.get(s)},
        "total": job.tasks_total, "done": done,
        "progress": round(done / job.tasks_total, 4) if job.tasks_total else 1.0,
        "cost": job.cost, "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


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
