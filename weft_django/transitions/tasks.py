"""A task's status changes: its claim, its lease's outcomes, and the graph's (queue, skip, cancel...)."""

from __future__ import annotations

import functools
import operator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Now

from ..exceptions import InvalidTransition
from ..models import Task
from ..states import ALLOWED_FROM, AWAITING_APPROVAL, TaskStatus


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
        started_at=Now(), worker=worker, not_before=None, waiting_for="", rate_slot=None,
    ))

def hold(task_id: int, token: int, reason: str, *, until: datetime | None = None) -> bool:
    """A queued task stays queued, held back at its claim (lifecycle/admission.py): ``reason`` says by what.
    ``until``: the moment its rate limit reserved for it (it is due then); without, it waits to be sent again."""
    return bool(Task.objects.filter(pk=task_id, status=TaskStatus.QUEUED, attempts=token).update(
        waiting_for=reason, dispatched_at=until or Now(),
        **({"not_before": until, "rate_slot": until} if until is not None else {})))

def offered(task_ids: list[int]) -> None:
    """Waiting tasks just sent again (a slot or a lock freed): the next hand-off and the sweep start after them."""
    if task_ids:
        Task.objects.filter(pk__in=task_ids, status=TaskStatus.QUEUED).update(dispatched_at=Now())

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

def renew_leases(pairs: list[tuple[int, int]], lease: float) -> set[int]:
    """``renew_lease`` of many (task id, token) pairs in one UPDATE; the ids whose lease holds now."""
    if not pairs:
        return set()
    fence = functools.reduce(operator.or_, (Q(pk=pk, attempts=token) for pk, token in pairs))
    live = Task.objects.filter(fence, status=TaskStatus.RUNNING, cancel_requested=False)
    if live.update(lease_expires_at=db_now_plus(lease)) == len(pairs):
        return {pk for pk, _ in pairs}
    return set(live.values_list("pk", flat=True))  # those refused are no longer held under that token

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
