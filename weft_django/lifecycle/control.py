"""Control: what people do to jobs and tasks: cancel a job or one task, approve or reject a task that waits
for approval. Each opens its own transaction and records who asked on its decision (the reason names them).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .. import transitions
from ..exceptions import InvalidInput, UnknownId
from ..handoff import Ready, after_commit
from ..models import Job, Task
from ..states import DecisionAction, JobStatus, TaskStatus
from . import graph, ledger

BELOW = (TaskStatus.WAITING, TaskStatus.BLOCKED)


def cancel(job_id: int, reason: str = "cancelled by request") -> bool:
    with transaction.atomic():
        if not Job.objects.filter(pk=job_id).exists():
            raise UnknownId(f"no job with id {job_id}")
        return graph.stop_job(job_id, reason, JobStatus.CANCELLED)


def cancel_task(task_id: int, reason: str = "cancelled by request") -> bool:
    """Cancel one task: at once if idle, through its worker if running. False if it was already final."""
    ready: list[Ready] = []
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "status", "has_dependents", "parent_id").first()
        if row is None:
            raise UnknownId(f"no task with id {task_id}")
        job_id, state, has_dependents, parent_id = row
        if state == TaskStatus.RUNNING:
            if not transitions.request_cancel([task_id]):
                return False
            # Its worker records how it ended; this one records who asked (the reason names them).
            ledger.write(job_id, task_id, None, DecisionAction.CANCEL, reason, "cancel.request")
            return True
        # A decomposed task's children, and the needs a blocked task added, exist for it: they go with it.
        below = _cancel_below(job_id, task_id, state, reason) if state in BELOW else {}
        if not transitions.cancel_idle([task_id], reason):
            return False
        ledger.write(job_id, task_id, None, DecisionAction.CANCEL, reason, "cancel.request", below)
        ready = graph.task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)
    after_commit(ready)
    return True


def _cancel_below(job_id: int, task_id: int, state: str, reason: str) -> dict[str, Any]:
    """A decomposed (waiting) or blocked task is being cancelled: so are the tasks under it (its children or
    needs, theirs, and so on), idle ones at once, running ones through their workers (as ``stop_job`` does
    for a job's tasks)."""
    below: list[int] = []
    level = [task_id]
    while level:
        level = list(Task.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        below += level
    if not below:
        return {}  # blocked without needs (awaiting approval, or only a reason)
    # Locked in id order before the parent is written: a child finishing locks itself, then its parent.
    live = list(Task.objects.filter(pk__in=below).live().order_by("pk").select_for_update()
                .values_list("pk", "status"))
    if not Task.objects.filter(pk=task_id, status=state).exists():
        return {}  # a child finished it meanwhile, or a need released it; cancel_idle refuses it next
    cancelled = transitions.cancel_idle([pk for pk, s in live if s != TaskStatus.RUNNING],
                                        f"{reason} (cancelled with task {task_id})")
    stopping = transitions.request_cancel([pk for pk, s in live if s == TaskStatus.RUNNING])
    if cancelled:
        transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
    return {"cancelled_tasks": cancelled, "stopping_tasks": stopping}


def approve(task_id: int, by: str) -> bool:
    """Let a task that waits for approval run. False if it is not waiting for approval (any more)."""
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "queue", "priority", "attempts").first()
        if row is None:
            raise UnknownId(f"no task with id {task_id}")
        job_id, queue, priority, token = row
        if not transitions.approve(task_id):
            return False
        ledger.write(job_id, task_id, None, DecisionAction.APPROVE, f"approved by {by}", "approval.granted")
    after_commit([Ready(task_id, token, queue, priority)])
    return True


def reject(task_id: int, by: str, reason: str = "") -> bool:
    """Refuse a task that waits for approval: it fails without running, and its dependents are skipped."""
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "has_dependents", "parent_id").first()
        if row is None:
            raise UnknownId(f"no task with id {task_id}")
        job_id, has_dependents, parent_id = row
        why = f"rejected by {by}" + (f": {reason}" if reason else "")
        if not transitions.reject(task_id, why):
            return False
        ledger.write(job_id, task_id, None, DecisionAction.REJECT, why, "approval.rejected")
        ready = graph.task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)
    after_commit(ready)
    return True


def retry_task(task_id: int, by: str) -> bool:
    """Run a failed or cancelled task again, with the dependents it had skipped (those with no other reason to
    skip), and its job if it had ended. False if the task is not failed or cancelled (any more)."""
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "status", "parent_id", "queue", "priority",
                                                          "attempts", "key").first()
        if row is None:
            raise UnknownId(f"no task with id {task_id}")
        job_id, state, parent_id, queue, priority, token, key = row
        if parent_id is not None or Task.objects.filter(parent_id=task_id).exists():
            raise InvalidInput("task", f"task {key!r} is part of a decomposition (or made run-time tasks): "
                                       "run the whole job again instead (rerun)")
        if state not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            return False
        again = graph.skipped_because_of(task_id)
        # Locked in id order before the job row, as stop_job takes them.
        list(Task.objects.filter(pk__in=[task_id, *again]).order_by("pk").select_for_update().values_list("pk"))
        if not transitions.reopen(task_id):
            return False
        count = 1 + transitions.unskip(again)
        was = transitions.reopen_job(job_id, count)
        ledger.write(job_id, task_id, None, DecisionAction.RETRY, f"run again by {by} (it had {state})",
                     "operator.retry", {"dependents_waiting_again": again})
        if was != JobStatus.RUNNING:
            ledger.write(job_id, None, None, DecisionAction.RETRY,
                         f"running again: {by} retried task {key!r} (the job had {was})", "operator.retry")
    after_commit([Ready(task_id, token, queue, priority)])
    return True


def unblock(task_id: int, by: str, note: str = "") -> bool:
    """Let a task blocked with a reason (not awaiting approval: approve that) run again; its skill is called
    anew. False if it is not blocked so (any more)."""
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "queue", "priority", "attempts",
                                                          "blocked_reason").first()
        if row is None:
            raise UnknownId(f"no task with id {task_id}")
        job_id, queue, priority, token, reason = row
        if not transitions.unblock(task_id):
            return False
        ledger.write(job_id, task_id, None, DecisionAction.ENQUEUE,
                     f"unblocked by {by}" + (f": {note}" if note else "") + f" (it waited for: {reason})",
                     "operator.unblock", {"note": note} if note else {})
    after_commit([Ready(task_id, token, queue, priority)])
    return True
