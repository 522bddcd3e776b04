"""Status changes of recovery and of an operator's second chance: an attempt whose process died, a task
sent again, a failed task run again, a blocked one let go."""

from __future__ import annotations

from django.db.models.functions import Now

from ..models import Task
from ..states import ALLOWED_FROM, AWAITING_APPROVAL, TaskStatus
from .tasks import db_now_plus


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
