"""Completion: what follows when tasks become final (dependents released or skipped, waiting parents
finished, the job finished or found stuck) and when a job or task is stopped or cancelled. Runs inside
the caller's transaction, except the public cancel functions, which open their own."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db import transaction

from . import scheduling, signals, transitions
from .deciders import Budget, Choice
from .exceptions import NotFound
from .handoff import Ready, after_commit
from .models import Attempt, Decision, Job, Task
from .states import FINAL_TASK_STATES, DecisionAction, JobStatus, TaskStatus


def decide(job_id: int, task_id: int | None, attempt_id: int | None, action: str, reason: str,
            policy: str = "", observation: Mapping[str, Any] | None = None) -> Decision:
    return Decision.objects.create(job_id=job_id, task_id=task_id, attempt_id=attempt_id, action=action,
                                   reason=reason, policy=policy, observation=dict(observation or {}))


_UNKNOWN: Any = object()


def task_final(job_id: int, task_id: int, *, succeeded: bool, has_dependents: bool,
               parent_id: int | None = _UNKNOWN) -> list[Ready]:
    """A task became final: release or skip its dependents, finish its parent or job if it was the last."""
    ready: list[Ready] = []
    finished, failed = 1, 0 if succeeded else 1
    touched_parents = set()
    if parent_id is _UNKNOWN:
        parent_id = Task.objects.values_list("parent_id", flat=True).get(pk=task_id)
    if parent_id is not None:
        touched_parents.add(parent_id)
    if has_dependents:
        if succeeded:
            ready = scheduling.release_dependents(task_id)
        else:
            names = {task_id: Task.objects.values_list("key", flat=True).get(pk=task_id)}
            for up, down, key, parent in scheduling.downstream_to_skip(task_id):
                reason = f"upstream task {names.get(up, up)!r} did not succeed"
                if transitions.skip(down, reason):
                    decide(job_id, down, None, DecisionAction.SKIP, f"skipped: {reason}", "dag.upstream_failed",
                            {"upstream": up})
                    finished += 1
                    failed += 1
                    names[down] = key
                    if parent is not None:
                        touched_parents.add(parent)
    status, total = transitions.count_finished(job_id, finished=finished, failed=failed)
    signals.send_on_commit(signals.task_finished, job_id=job_id, task_id=task_id,
                           status="succeeded" if succeeded else "failed")
    for parent in touched_parents:
        ready += _finish_parent(job_id, parent)
    if status is not None:
        if total > 1:  # a one-task job ends with its task, whose decision already says how
            decide(job_id, None, None, DecisionAction.FINISH_JOB, f"every task is final; the job {status}",
                    "job.complete")
        signals.send_on_commit(signals.job_finished, job_id=job_id, status=status)
    elif not ready and Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists():
        stop_if_stuck(job_id)  # a transition that readied work cannot have left the job stuck
    return ready


def job_budget(job_id: int, *, max_attempts: int | None, max_cost: float | None, deadline: datetime | None,
               cost: float | None = None) -> Budget:
    """What a job has left for the failure decider; the one budget builder of the engine and the sweep.
    ``cost`` is the job's spent cost if the caller has read it already."""
    attempts_left = None if max_attempts is None else max_attempts - Attempt.objects.filter(job_id=job_id).count()
    cost_left = None
    if max_cost is not None:
        spent = Job.objects.values_list("cost", flat=True).get(pk=job_id) if cost is None else cost
        cost_left = max_cost - spent
    return Budget(attempts_left=attempts_left, cost_left=cost_left,
                  deadline=deadline.timestamp() if deadline else None)


def fail_for_good(job_id: int, task_id: int, choice: Choice, *, has_dependents: bool,
                  parent_id: int | None) -> list[Ready]:
    """A task failed and will not run again (its failure and decision are written). The one rule for budgets:
    when the job's budget is why (the decider chose ``stop_job``), the job is stopped before the failure is
    counted, so an exhausted budget ends it ``stopped`` (docs/jobs.md) and never ``failed``, whether an
    attempt reported it or the sweep found the attempt lost."""
    if choice.action == "stop_job":
        stop_job(job_id, choice.reason)
    return task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)


def _finish_parent(job_id: int, parent_id: int) -> list[Ready]:
    """A child became final: complete its waiting parent when every child succeeded, fail it when one did not."""
    parent = Task.objects.select_for_update().filter(pk=parent_id, status=TaskStatus.WAITING).first()
    if parent is None:
        return []
    prefix = f"{parent.key}/"
    children = list(Task.objects.filter(parent_id=parent_id, key__startswith=prefix)
                    .values_list("pk", "key", "status", "result"))
    bad = [(k, s) for _, k, s, _ in children if s in FINAL_TASK_STATES and s != TaskStatus.SUCCEEDED]
    if bad:
        key, state = bad[0]
        reason = f"child task {key!r} {state}"
        transitions.fail_waiting(parent_id, reason)
        decide(job_id, parent_id, None, DecisionAction.FAIL, f"failed: {reason}", "decompose.child_failed")
        live = [pk for pk, _, s, _ in children if s not in FINAL_TASK_STATES]
        cancelled = transitions.cancel_idle(live, f"sibling task {key!r} {state}")
        transitions.request_cancel(live)
        if cancelled:
            transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
        return task_final(job_id, parent_id, succeeded=False, has_dependents=parent.has_dependents,
                          parent_id=parent.parent_id)
    if any(s not in FINAL_TASK_STATES for _, _, s, _ in children):
        return []
    results = {k.removeprefix(prefix): r for _, k, _, r in children}
    value = results["join"] if f"{prefix}join" in {k for _, k, _, _ in children} else results
    transitions.finish_waiting(parent_id, value)
    decide(job_id, parent_id, None, DecisionAction.SUCCEED, f"all {len(children)} child tasks succeeded",
            "decompose.complete")
    return task_final(job_id, parent_id, succeeded=True, has_dependents=parent.has_dependents,
                      parent_id=parent.parent_id)


def stop_if_stuck(job_id: int) -> None:
    reason = scheduling.stuck_report(job_id)
    if reason is not None:
        stop_job(job_id, reason)


def stop_job(job_id: int, reason: str, status: JobStatus = JobStatus.STOPPED) -> bool:
    """End a running job: cancel its idle tasks now, ask running ones to stop. False if already ended."""
    # Lock the live tasks before the job row, in id order: record() locks a task and then its job, so
    # taking the job first here could deadlock with a task of this job finishing at the same moment.
    live = list(Task.objects.filter(job_id=job_id).live().order_by("pk").select_for_update()
                .values_list("pk", "status"))
    if not transitions.end_job(job_id, status, reason):
        return False
    idle = [pk for pk, s in live if s != TaskStatus.RUNNING]
    cancelled = transitions.cancel_idle(idle, reason)
    transitions.request_cancel([pk for pk, s in live if s == TaskStatus.RUNNING])
    if cancelled:
        transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
    action = DecisionAction.CANCEL if status == JobStatus.CANCELLED else DecisionAction.STOP_JOB
    decide(job_id, None, None, action, reason, f"job.{status}", {"cancelled_tasks": cancelled})
    signals.send_on_commit(signals.job_finished, job_id=job_id, status=str(status))
    return True


def cancel(job_id: int, reason: str = "cancelled by request") -> bool:
    with transaction.atomic():
        if not Job.objects.filter(pk=job_id).exists():
            raise NotFound(f"no job with id {job_id}")
        return stop_job(job_id, reason, JobStatus.CANCELLED)


def cancel_task(task_id: int, reason: str = "cancelled by request") -> bool:
    """Cancel one task: at once if idle, through its worker if running. False if it was already final."""
    ready: list[Ready] = []
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "status", "has_dependents", "parent_id").first()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        job_id, state, has_dependents, parent_id = row
        if state == TaskStatus.RUNNING:
            if not transitions.request_cancel([task_id]):
                return False
            # Its worker records how it ended; this one records who asked (the reason names them).
            decide(job_id, task_id, None, DecisionAction.CANCEL, reason, "cancel.request")
            return True
        children = _cancel_children(job_id, task_id, reason) if state == TaskStatus.WAITING else {}
        if not transitions.cancel_idle([task_id], reason):
            return False
        decide(job_id, task_id, None, DecisionAction.CANCEL, reason, "cancel.request", children)
        ready = task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)
    after_commit(ready)
    return True


def _cancel_children(job_id: int, task_id: int, reason: str) -> dict[str, Any]:
    """A decomposed task is being cancelled: so are the tasks under it (children, theirs, and their needs),
    idle ones at once, running ones through their workers (as ``stop_job`` does for a job's tasks)."""
    below: list[int] = []
    level = [task_id]
    while level:
        level = list(Task.objects.filter(parent_id__in=level).values_list("pk", flat=True))
        below += level
    # Locked in id order before the parent is written: a child finishing locks itself, then its parent.
    live = list(Task.objects.filter(pk__in=below).live().order_by("pk").select_for_update()
                .values_list("pk", "status"))
    if not Task.objects.filter(pk=task_id, status=TaskStatus.WAITING).exists():
        return {}  # a child finished it meanwhile; cancel_idle refuses it next
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
            raise NotFound(f"no task with id {task_id}")
        job_id, queue, priority, token = row
        if not transitions.approve(task_id):
            return False
        decide(job_id, task_id, None, DecisionAction.APPROVE, f"approved by {by}", "approval.granted")
    after_commit([Ready(task_id, token, queue, priority)])
    return True


def reject(task_id: int, by: str, reason: str = "") -> bool:
    """Refuse a task that waits for approval: it fails without running, and its dependents are skipped."""
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "has_dependents", "parent_id").first()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        job_id, has_dependents, parent_id = row
        why = f"rejected by {by}" + (f": {reason}" if reason else "")
        if not transitions.reject(task_id, why):
            return False
        decide(job_id, task_id, None, DecisionAction.REJECT, why, "approval.rejected")
        ready = task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)
    after_commit(ready)
    return True
