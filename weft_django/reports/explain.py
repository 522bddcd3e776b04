"""``explain``: why a job ended as it did, told only from its decisions and attempts."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from .. import units
from ..models import Attempt, Decision, Task
from ..states import DecisionAction
from .jobs import get_job, page_bounds, task_page, waiting
from .loops import job_loops


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
        rows, next_after = task_page(Task.objects.filter(job_id=job.pk), limit, start)
        scope = Q(task_id__in=[pk for pk, in rows])
    fields = _FIELDS
    own = Q(job_id=job.pk, task__isnull=True)
    decisions = list(Decision.objects.filter(scope | own if not start else scope).order_by("pk").values_list(*fields))
    # The cause: from the job's own decisions and its first failure, wherever they are on the pages.
    job_level = ([d for d in decisions if d[0] is None] if not start
                 else list(Decision.objects.filter(own).order_by("pk").values_list(*fields)))
    first_failure = _first_failure(job.pk)
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
    if job.tokens or job.max_tokens:
        lines.append(f"Budget: {units.tokens(job.tokens, job.max_tokens)}")
    lines += [f"Waiting: {reason}" for reason in waiting(job)]
    paged = None if limit is None and not start else [pk for pk, in rows]
    lines += [f"Loop: task {key!r}: {line}" for key, line in job_loops(job.pk, paged).items()]
    lines += _story(decisions, attempts)
    if next_after is not None:
        lines.append("")
        lines.append(f"More tasks follow: the next page starts after task {next_after}.")
    return {"explain": "\n".join(lines), "next_after": next_after}


def cause(job: Any) -> str:
    """Why ``job`` (a Job row) is where it is, in one line: its stop or cancel, its first task that failed
    for good, or that every task succeeded; "" while nothing decided it. Two indexed reads."""
    own = list(Decision.objects.filter(job_id=job.pk, task__isnull=True).order_by("pk").values_list(*_FIELDS))
    first_failure = _first_failure(job.pk) if job.status == "failed" else None
    return _cause(job.status, [*own, *([first_failure] if first_failure else [])]) or job.stop_reason


_FIELDS = ("task__key", "action", "reason", "policy", "attempt__number")


def _first_failure(job_id: int) -> tuple[Any, ...] | None:
    """The first decision that failed a task of the job for good (an error, a rejection, a lost attempt
    with none left), as ``_FIELDS``."""
    return (Decision.objects.filter(job_id=job_id, task__isnull=False)
            .filter(Q(action__in=(DecisionAction.FAIL, DecisionAction.REJECT))
                    | Q(action=DecisionAction.RECOVER) & ~Q(policy__in=_RECOVERED))
            .order_by("pk").values_list(*_FIELDS).first())


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

