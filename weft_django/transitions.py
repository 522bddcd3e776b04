"""Every change of a task's or job's state, each a guarded compare-and-set.

Each function updates only the fields it changes, in one UPDATE whose WHERE names the states it may
start from (and, for work done under a lease, the fencing token). Zero rows matched means the row
was elsewhere: it raises ``InvalidTransition`` or, for fenced writes, returns False so the caller can
keep the late result as a discarded attempt. Callers own the transaction (the event modules in lifecycle/).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.db.models.functions import Now
from django.utils import timezone

from .exceptions import InvalidTransition
from .models import Job, Task
from .states import ALLOWED_FROM, AWAITING_APPROVAL, JobStatus, TaskStatus


def db_now_plus(seconds: float) -> ExpressionWrapper:
    """``now() + seconds`` on the database clock, never the worker's."""
    return ExpressionWrapper(Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


def _guarded(task_id: int, transition: str, **changes: Any) -> None:
    if not Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM[transition]).update(**changes):
        raise InvalidTransition(f"task {task_id}: cannot {transition} from its current state")


def claim(task_id: int, token: int, *, lease: float, worker: str) -> bool:
    """queued -> running under a new lease; the fencing token (``attempts``) goes up by one.

    A duplicate or stale message carries an old token and claims nothing.
    """
    return bool(Task.objects.filter(pk=task_id, status=TaskStatus.QUEUED, attempts=token).update(
        status=TaskStatus.RUNNING, attempts=F("attempts") + 1, lease_expires_at=db_now_plus(lease),
        started_at=Now(), worker=worker, not_before=None,
    ))


def _fenced(task_id: int, token: int, transition: str, where: dict[str, Any] | None = None, **changes: Any) -> bool:
    """Apply a change made under lease ``token``; False if that lease is no longer the current one.

    Transitions that keep the task alive (retry, block, wait) also refuse once a cancel was requested:
    a job stopped while the attempt ran must not get the task back.
    """
    keep_alive = transition in ("retry", "block", "wait")
    return bool(Task.objects.filter(
        pk=task_id, attempts=token, status__in=ALLOWED_FROM[transition] & {TaskStatus.RUNNING},
        **({"cancel_requested": False} if keep_alive else {}), **(where or {}),
    ).update(**changes))


def renew_lease(task_id: int, token: int, lease: float) -> bool:
    return _fenced(task_id, token, "retry", lease_expires_at=db_now_plus(lease))


def succeed(task_id: int, token: int, result: Any, *, without_dependents: bool = False) -> bool:
    """running -> succeeded; with ``without_dependents``, only if the task has no dependents (False otherwise)."""
    return _fenced(task_id, token, "succeed", {"has_dependents": False} if without_dependents else None,
                   status=TaskStatus.SUCCEEDED, result=result, error="", finished_at=Now(), lease_expires_at=None)


def fail(task_id: int, token: int, error: str) -> bool:
    return _fenced(task_id, token, "fail", status=TaskStatus.FAILED, error=error,
                   finished_at=Now(), lease_expires_at=None)


def cancel_running(task_id: int, token: int, error: str) -> bool:
    return _fenced(task_id, token, "cancel", status=TaskStatus.CANCELLED, error=error,
                   finished_at=Now(), lease_expires_at=None)


def retry(task_id: int, token: int, delay: float, error: str) -> bool:
    """running -> queued, due after ``delay``; the next claim opens a new attempt."""
    return _fenced(task_id, token, "retry", status=TaskStatus.QUEUED, error=error,
                   not_before=db_now_plus(delay), dispatched_at=db_now_plus(delay), lease_expires_at=None)


def block(task_id: int, token: int, reason: str) -> bool:
    return _fenced(task_id, token, "block", status=TaskStatus.BLOCKED, blocked_reason=reason,
                   lease_expires_at=None)


def wait(task_id: int, token: int) -> bool:
    """running -> waiting: decomposed, it completes when its children do."""
    return _fenced(task_id, token, "wait", status=TaskStatus.WAITING, lease_expires_at=None)


def recover(task_id: int, token: int, *, delay: float, error: str) -> bool:
    """Expired lease -> queued again (the sweep); fenced on the token it saw, so a live renewal wins."""
    return bool(Task.objects.filter(pk=task_id, attempts=token, status=TaskStatus.RUNNING,
                                    lease_expires_at__lt=Now()).update(
        status=TaskStatus.QUEUED, error=error, not_before=db_now_plus(delay),
        dispatched_at=db_now_plus(delay), lease_expires_at=None,
    ))


def fail_lost(task_id: int, token: int, error: str) -> bool:
    """Expired lease -> failed (the sweep, when no retry is left)."""
    return bool(Task.objects.filter(pk=task_id, attempts=token, status=TaskStatus.RUNNING,
                                    lease_expires_at__lt=Now()).update(
        status=TaskStatus.FAILED, error=error, finished_at=Now(), lease_expires_at=None,
    ))


def queue(task_id: int) -> None:
    """pending/blocked/waiting -> queued: ready to be claimed."""
    _guarded(task_id, "queue", status=TaskStatus.QUEUED, dispatched_at=Now(), not_before=None, blocked_reason="")


def queue_many(task_ids: list[int]) -> None:
    """``queue`` for many tasks in one UPDATE; each must be in a state that allows it."""
    if task_ids and Task.objects.filter(pk__in=task_ids, status__in=ALLOWED_FROM["queue"]).update(
            status=TaskStatus.QUEUED, dispatched_at=Now(), not_before=None, blocked_reason="") != len(task_ids):
        raise InvalidTransition(f"tasks {task_ids}: cannot all be queued from their current states")


def await_approval_many(task_ids: list[int]) -> None:
    """pending -> blocked (AWAITING_APPROVAL): tasks of skills that require approval, at their first readiness."""
    if task_ids and Task.objects.filter(pk__in=task_ids, status__in=ALLOWED_FROM["await_approval"]).update(
            status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL) != len(task_ids):
        raise InvalidTransition(f"tasks {task_ids}: cannot all wait for approval from their current states")


def approve(task_id: int) -> bool:
    """blocked (AWAITING_APPROVAL) -> queued. False if it is not waiting for approval (any more)."""
    return bool(Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM["approve"],
                                    blocked_reason=AWAITING_APPROVAL).update(
        status=TaskStatus.QUEUED, blocked_reason="", dispatched_at=Now(), not_before=None))


def reject(task_id: int, error: str) -> bool:
    """blocked (AWAITING_APPROVAL) -> failed, without an attempt. False if it is not waiting for approval."""
    return bool(Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM["reject"],
                                    blocked_reason=AWAITING_APPROVAL).update(
        status=TaskStatus.FAILED, blocked_reason="", error=error, finished_at=Now()))


def finish_waiting(task_id: int, result: Any) -> None:
    _guarded(task_id, "succeed", status=TaskStatus.SUCCEEDED, result=result, finished_at=Now())


def fail_waiting(task_id: int, error: str) -> None:
    _guarded(task_id, "fail", status=TaskStatus.FAILED, error=error, finished_at=Now())


def skip(task_id: int, reason: str) -> bool:
    return bool(Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM["skip"]).update(
        status=TaskStatus.SKIPPED, error=reason, finished_at=Now()))


def cancel_idle(task_ids: list[int], reason: str) -> int:
    """Cancel every listed task that is not running and not final; returns how many."""
    idle = ALLOWED_FROM["cancel"] - {TaskStatus.RUNNING}
    return Task.objects.filter(pk__in=task_ids, status__in=idle).update(
        status=TaskStatus.CANCELLED, error=reason, finished_at=Now(), lease_expires_at=None)


def request_cancel(task_ids: list[int]) -> int:
    return Task.objects.filter(pk__in=task_ids, status=TaskStatus.RUNNING).update(cancel_requested=True)


def count_finished(job_id: int, *, finished: int, failed: int) -> tuple[str | None, int]:
    """Tasks of a job became final: count them off and, if they were the last open ones, finish the job.

    One UPDATE ... RETURNING (PostgreSQL and SQLite alike); SET expressions see the row as it was, and the
    row lock orders concurrent finishers, so exactly one of them sees the count reach zero. Returns the
    job's new status when this call finished it (else None), and how many tasks the job has.
    """
    done = "status = %s AND tasks_open = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Job._meta.db_table} SET tasks_open = tasks_open - %s, tasks_failed = tasks_failed + %s, "
            f"status = CASE WHEN {done} THEN (CASE WHEN tasks_failed + %s = 0 THEN %s ELSE %s END) ELSE status END, "
            f"finished_at = CASE WHEN {done} THEN %s ELSE finished_at END "
            "WHERE id = %s RETURNING status, tasks_open, tasks_total",
            [finished, failed, JobStatus.RUNNING, finished, failed, JobStatus.SUCCEEDED, JobStatus.FAILED,
             JobStatus.RUNNING, finished, connection.ops.adapt_datetimefield_value(timezone.now()), job_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None, 0
    ended = row[1] == 0 and row[0] in (JobStatus.SUCCEEDED, JobStatus.FAILED)
    return (str(row[0]) if ended else None), int(row[2])


def end_job(job_id: int, status: JobStatus, reason: str) -> bool:
    """running -> cancelled/stopped; False if the job had already ended."""
    return bool(Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, stop_reason=reason, finished_at=Now()))


def add_cost(job_id: int, cost: float) -> None:
    if cost:
        Job.objects.filter(pk=job_id).update(cost=F("cost") + cost)


# ---- recovery of an attempt whose process is known to be dead (the sweep, issue 5) ----


def recover_orphan(task_id: int, token: int, *, delay: float, error: str) -> bool:
    """running -> queued for an attempt whose process was seen dead on its own host, before its lease ran out.

    Fenced on the token like every write for an attempt: if the task moved on, nothing changes.
    """
    return bool(Task.objects.filter(pk=task_id, attempts=token, status=TaskStatus.RUNNING).update(
        status=TaskStatus.QUEUED, error=error, not_before=db_now_plus(delay),
        dispatched_at=db_now_plus(delay), lease_expires_at=None,
    ))


def fail_orphan(task_id: int, token: int, error: str) -> bool:
    """running -> failed for an attempt whose process died, when no retry is left."""
    return bool(Task.objects.filter(pk=task_id, attempts=token, status=TaskStatus.RUNNING).update(
        status=TaskStatus.FAILED, error=error, finished_at=Now(), lease_expires_at=None,
    ))


def redispatched_holding(task_ids: list[int], hold: float) -> None:
    """Sent again now; the sweep looks at them again only ``hold`` seconds after its usual wait (backoff)."""
    Task.objects.filter(pk__in=task_ids, status=TaskStatus.QUEUED).update(dispatched_at=db_now_plus(hold))


# ---- an operator's second chance (lifecycle/control.py) ----


def reopen(task_id: int) -> bool:
    """failed/cancelled -> queued: an operator runs the task again. Its token stays: the next claim opens the
    next attempt."""
    return bool(Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM["reopen"]).update(
        status=TaskStatus.QUEUED, error="", finished_at=None, not_before=None, dispatched_at=Now(),
        cancel_requested=False, lease_expires_at=None, blocked_reason=""))


def unskip(task_ids: list[int]) -> int:
    """skipped -> pending: the upstream that made them skip runs again; they wait for it as before (their
    ``pending_deps`` still counts it: only a success counts an upstream off)."""
    return Task.objects.filter(pk__in=task_ids, status__in=ALLOWED_FROM["unskip"]).update(
        status=TaskStatus.PENDING, error="", finished_at=None)


def unblock(task_id: int) -> bool:
    """blocked with a reason (not awaiting approval) -> queued: an operator says what it waited for is there."""
    return bool(Task.objects.filter(pk=task_id, status__in=ALLOWED_FROM["unblock"]).exclude(
        blocked_reason=AWAITING_APPROVAL).update(status=TaskStatus.QUEUED, blocked_reason="", dispatched_at=Now(),
                                                  not_before=None))


def reopen_job(job_id: int, count: int) -> str:
    """``count`` of the job's tasks, counted failed when they ended, are open again: the job runs again if it
    had ended (it had not succeeded: it had failed tasks). Returns the status it had."""
    before = Job.objects.filter(pk=job_id).values_list("status", flat=True).get()
    Job.objects.filter(pk=job_id).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.RUNNING, stop_reason="", finished_at=None, tasks_open=F("tasks_open") + count,
        tasks_failed=F("tasks_failed") - count)
    return str(before)

