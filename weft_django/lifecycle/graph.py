"""What follows when tasks become final: dependents released or skipped, decomposed parents finished, the
job finished, found stuck, or stopped. Runs inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from django.db.models import F

from .. import registry, signals, transitions
from ..handoff import Ready
from ..models import Dependency, Job, Task
from ..states import AWAITING_APPROVAL, FINAL_TASK_STATES, DecisionAction, JobStatus, TaskStatus
from . import ledger, policing

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
            ready = release_dependents(task_id)
        else:
            names = {task_id: Task.objects.values_list("key", flat=True).get(pk=task_id)}
            for up, down, key, parent in downstream_to_skip(task_id):
                reason = f"upstream task {names.get(up, up)!r} did not succeed"
                if transitions.skip(down, reason):
                    ledger.write(job_id, down, None, DecisionAction.SKIP, f"skipped: {reason}", "dag.upstream_failed",
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
            ledger.write(job_id, None, None, DecisionAction.FINISH_JOB, ledger.job_complete_reason(status),
                         ledger.JOB_COMPLETE_POLICY)
        signals.send_on_commit(signals.job_finished, job_id=job_id, status=status)
    elif not ready and Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists():
        stop_if_stuck(job_id)  # a transition that readied work cannot have left the job stuck
    return ready


def after_attempt(job_id: int, task_id: int, *, succeeded: bool, dependents_seen: bool,
                  parent_id: int | None) -> list[Ready]:
    """``task_final`` for a task whose attempt just ended. Whether it has dependents is read again unless its
    claim saw some: a need added while the attempt ran may depend on it (rows.add_tasks locks this row to
    add the edge, so this read, after this transaction's own update of the row, sees it)."""
    has = dependents_seen or has_dependents(task_id)
    return task_final(job_id, task_id, succeeded=succeeded, has_dependents=has, parent_id=parent_id)


def has_dependents(task_id: int) -> bool:
    return Task.objects.filter(pk=task_id, has_dependents=True).exists()


def release_dependents(task_id: int) -> list[Ready]:
    """An upstream succeeded: count it off its dependents and queue those with nothing left to wait for
    (or, at their first readiness, hold those of skills that require approval)."""
    down = list(Dependency.objects.filter(upstream_id=task_id).values_list("downstream_id", flat=True))
    Task.objects.filter(pk__in=down).update(pending_deps=F("pending_deps") - 1)
    rows = list(Task.objects.filter(pk__in=down, pending_deps=0, status__in=(TaskStatus.PENDING, TaskStatus.BLOCKED))
                .values_list("pk", "queue", "priority", "attempts", "status", "skill_name", "job_id"))
    # Held by a policy at submission (a query only while some rule requires approval).
    pending = [pk for pk, _, _, _, status, *_ in rows if status == TaskStatus.PENDING]
    by_policy = ledger.held_by_policy(pending) if pending and policing.holds_possible() else set()
    held = [(pk, skill, job) for pk, _, _, _, status, skill, job in rows
            if status == TaskStatus.PENDING and (registry.requires_approval(skill) or pk in by_policy)]
    if held:
        transitions.await_approval_many([pk for pk, _, _ in held])
        ledger.awaiting_approval(held[0][2], [(pk, skill) for pk, skill, _ in held])
    held_ids = {pk for pk, _, _ in held}
    ready = [(pk, queue, prio, attempts) for pk, queue, prio, attempts, *_ in rows if pk not in held_ids]
    transitions.queue_many([pk for pk, *_ in ready])
    return [Ready(pk, attempts, queue, prio) for pk, queue, prio, attempts in ready]


def downstream_to_skip(task_id: int) -> list[tuple[int, int, str, int | None]]:
    """Every pending/blocked task downstream of ``task_id``, as (upstream, task, key, parent), nearest first."""
    out = []
    seen = {task_id}
    frontier = [task_id]
    while frontier:
        edges = list(Dependency.objects.filter(upstream_id__in=frontier, downstream__status__in=(
            TaskStatus.PENDING, TaskStatus.BLOCKED)).values_list(
            "upstream_id", "downstream_id", "downstream__key", "downstream__parent_id"))
        frontier = []
        for up, down, key, parent in edges:
            if down not in seen:
                seen.add(down)
                out.append((up, down, key, parent))
                frontier.append(down)
    return out


def skipped_because_of(task_id: int) -> list[int]:
    """The skipped tasks downstream of ``task_id`` that would not have skipped had it succeeded: every upstream
    of each is live, succeeded, or among them (nearest first)."""
    found: list[int] = []
    frontier = [task_id]
    while frontier:
        skipped = Dependency.objects.filter(upstream_id__in=frontier, downstream__status=TaskStatus.SKIPPED)
        frontier = [d for d in skipped.values_list("downstream_id", flat=True) if d not in found]
        found += frontier
    ok = {task_id, *found}
    while True:
        bad = {down for down, up, status in Dependency.objects.filter(downstream_id__in=ok - {task_id})
               .values_list("downstream_id", "upstream_id", "upstream__status")
               if up not in ok and status in FINAL_TASK_STATES and status != TaskStatus.SUCCEEDED}
        if not bad:
            return [pk for pk in found if pk in ok]
        ok -= bad


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
        ledger.write(job_id, parent_id, None, DecisionAction.FAIL, f"failed: {reason}", "decompose.child_failed")
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
    ledger.write(job_id, parent_id, None, DecisionAction.SUCCEED, f"all {len(children)} child tasks succeeded",
                 "decompose.complete")
    return task_final(job_id, parent_id, succeeded=True, has_dependents=parent.has_dependents,
                      parent_id=parent.parent_id)


def stop_if_stuck(job_id: int) -> None:
    reason = stuck_report(job_id)
    if reason is not None:
        stop_job(job_id, reason)


def stop_job(job_id: int, reason: str, status: JobStatus = JobStatus.STOPPED) -> bool:
    """End a running job: cancel its idle tasks now, ask running ones to stop. False if already ended."""
    # Lock the live tasks before the job row, in id order: record() locks a task and then its job, so
    # taking the job first here could deadlock with a task of this job finishing at the same moment.
    live = _lock_live(job_id)
    if not transitions.end_job(job_id, status, reason):
        return False
    # Tasks that a report holding one of those locks added (needs, children) are not in that statement's
    # snapshot, which predates the report's commit; a new statement sees them. None can be added after
    # this: adding one takes the job row, which is this transaction's now.
    seen = {pk for pk, _ in live}
    live += [(pk, s) for pk, s in _lock_live(job_id) if pk not in seen]
    idle = [pk for pk, s in live if s != TaskStatus.RUNNING]
    cancelled = transitions.cancel_idle(idle, reason)
    transitions.request_cancel([pk for pk, s in live if s == TaskStatus.RUNNING])
    if cancelled:
        transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
    action = DecisionAction.CANCEL if status == JobStatus.CANCELLED else DecisionAction.STOP_JOB
    ledger.write(job_id, None, None, action, reason, f"job.{status}", {"cancelled_tasks": cancelled})
    signals.send_on_commit(signals.job_finished, job_id=job_id, status=str(status))
    return True


def _lock_live(job_id: int) -> list[tuple[int, str]]:
    return list(Task.objects.filter(job_id=job_id).live().order_by("pk").select_for_update()
                .values_list("pk", "status"))


def stuck_report(job_id: int) -> str | None:
    """If nothing can run or is running while tasks remain, say which tasks block and why."""
    Job.objects.select_for_update().filter(pk=job_id).values_list("pk").first()  # order concurrent checks
    if Task.objects.filter(job_id=job_id, status__in=(TaskStatus.QUEUED, TaskStatus.RUNNING)).exists():
        return None
    if Task.objects.filter(job_id=job_id, status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL).exists():
        return None  # a person will decide; the job's deadline, if it has one, still applies
    blocked = list(Task.objects.filter(job_id=job_id, status=TaskStatus.BLOCKED).values_list("key", "blocked_reason"))
    if not blocked and not Task.objects.filter(job_id=job_id).live().exists():
        return None
    parts = [f"{k!r} ({r or 'no reason given'})" for k, r in blocked] or ["dependencies that never finish"]
    return "stuck: nothing is runnable or running; blocked: " + ", ".join(parts)
