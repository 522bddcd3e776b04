"""Recover: an attempt was lost (its lease expired, or its process was seen dead on its own host); decide
for its task as for a failure (retry within the policy and the job's budget, else fail), fenced on the
token it saw, so a worker that renewed its lease at the same moment wins.

The sweep calls ``expired`` for each task whose lease ran out; a worker calls ``recover_orphan`` when a
redelivered message claims nothing, and its heartbeat thread calls ``recover_orphans_of``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psutil
from django.db import transaction

from .. import transitions
from ..conf import settings
from ..deciders import DEFAULT_LIMIT_POLICY, Failure, decide_failure
from ..execution.supervisor import attempt_alive
from ..handoff import Ready, after_commit
from ..models import Attempt, Job, Task
from ..spec import RetryPolicy
from ..states import AttemptOutcome, DecisionAction, JobStatus, TaskStatus
from . import admission, budget, graph, ledger
from .claim import HOST

logger = logging.getLogger(__name__)


def expired(task_id: int) -> str:
    """Recover one running task whose lease ran out (the sweep): its attempt is lost; retry within the policy,
    else fail. Returns what became of it: "retried", "failed", "cancelled", or "raced" (nothing changed)."""
    ready: list[Ready] = []
    with transaction.atomic():
        # Locked, and re-checked under the lock: a renewal that won the race makes this None.
        task = Task.objects.expired().filter(pk=task_id).get_locked()
        if task is None:
            return "raced"
        kind, ready = _recover_one(task)
        ready += _handoff(task, kind)
    after_commit(ready)
    return kind


def _handoff(task: Task, kind: str) -> list[Ready]:
    """A lost attempt's task left running: its slots and locks go to the tasks that wait for them."""
    return admission.handoff(task.pk, task.gates, task.locks) if task.governed and kind != "raced" else []


@dataclass(frozen=True)
class _Loss:
    """How an attempt was found lost: its lease expired (the sweep) or its process was seen dead."""

    how: str  # "lease_expired" | "process_died"
    detail: str  # for the attempt's error message
    short: str  # replaces "(its lease expired)" in the decider's reason


def _recover_one(task: Task, died: int | None = None) -> tuple[str, list[Ready]]:
    """Decide for one locked task whose attempt is lost; the transition comes first so a lost race changes nothing.

    ``died`` is the pid of the attempt's process when it was seen dead; otherwise its lease expired.
    """
    token = task.attempts
    attempt = Attempt.objects.filter(task_id=task.pk, number=token).values("pk", "worker", "pid").first()
    where = f"worker {attempt['worker'] or '?'} pid {attempt['pid']}" if attempt else "no attempt row"
    expired_at = task.lease_expires_at.isoformat() if task.lease_expires_at else "?"
    loss = _Loss("lease_expired", f"no heartbeat from {where}; its lease expired at {expired_at}",
                 "(its lease expired)") if died is None else _Loss(
        "process_died", f"its process {died} died ({where}; Celery redelivered its message)", "(its process died)")
    observation: dict[str, Any] = {"token": token, "worker": attempt["worker"] if attempt else "",
                                   "pid": attempt["pid"] if attempt else None, "detected": loss.how,
                                   "lease_expired_at": expired_at}
    recover, fail = ((transitions.recover, transitions.fail_lost) if died is None
                     else (transitions.recover_orphan, transitions.fail_orphan))
    job = Job.objects.values("status", "max_attempts", "max_cost", "cost", "max_tokens", "tokens",
                             "deadline").get(pk=task.job_id)
    if task.cancel_requested or job["status"] != JobStatus.RUNNING:
        # Its job ended or someone cancelled it while it ran: nothing to retry, and its worker is gone.
        if not transitions.cancel_running(task.pk, token, "cancelled; its attempt was lost"):
            return "raced", []
        _close_lost(attempt, loss)
        _write(task, attempt, f"attempt {token} was lost {loss.short} while a cancel was pending; the task is "
               f"cancelled ({where})", "recover.cancel", observation)
        return "cancelled", graph.task_final(task.job_id, task.pk, succeeded=False,
                                              has_dependents=task.has_dependents, parent_id=task.parent_id)
    left = budget.left(task.job_id, max_attempts=job["max_attempts"], max_cost=job["max_cost"],
                       deadline=job["deadline"], cost=job["cost"], max_tokens=job["max_tokens"],
                       tokens=job["tokens"])
    choice = decide_failure(
        Failure(attempt=token, error_type="LeaseExpired", message=loss.detail, outcome="lost"),
        RetryPolicy(**task.retry), budget=left, now=time.time(), rand=random.random(),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    observation.update(choice.observation)
    reason = f"{choice.reason.replace('(its lease expired)', loss.short)} ({where})"
    if choice.action == "retry":
        if not recover(task.pk, token, delay=choice.delay, error=f"attempt {token} was lost {loss.short}"):
            return "raced", []
        _close_lost(attempt, loss)
        _write(task, attempt, reason, choice.policy, observation)
        return "retried", [Ready(task.pk, token, task.queue, task.priority, choice.delay)]
    if not fail(task.pk, token, f"attempt {token} was lost {loss.short}; {choice.reason}"):
        return "raced", []
    _close_lost(attempt, loss)
    _write(task, attempt, f"{reason}; the task failed", choice.policy, observation)
    return "failed", budget.fail_for_good(task.job_id, task.pk, choice, has_dependents=task.has_dependents,
                                              parent_id=task.parent_id)


def _close_lost(attempt: Mapping[str, Any] | None, loss: _Loss) -> None:
    ledger.close_lost(attempt["pk"] if attempt else None,
                      "LeaseExpired" if loss.how == "lease_expired" else "ProcessDied", loss.detail)


def _write(task: Task, attempt: Mapping[str, Any] | None, reason: str, policy: str,
           observation: dict[str, Any]) -> None:
    ledger.write(task.job_id, task.pk, attempt["pk"] if attempt else None, DecisionAction.RECOVER, reason,
                 policy, observation)


def recover_orphan(task_id: int, worker: str) -> bool:
    """Recover at once a running task that ``worker`` (this process's Celery nodename) ran in a process now dead.

    Called by a worker when a message claims nothing (when a pool process dies, Celery redelivers its
    message: acks_late, reject_on_worker_lost) and by its heartbeat thread: if the attempt ran in this
    very worker and its process is gone from this host, there is no need to wait for its lease.
    Anything less certain (another worker, another host, a pid in use again) is left to the lease and
    the sweep. Returns True if it recovered the task.
    """
    token = Task.objects.filter(pk=task_id, status=TaskStatus.RUNNING).values_list("attempts", flat=True).first()
    if token is None:
        return False
    attempt = Attempt.objects.filter(task_id=task_id, number=token, outcome=AttemptOutcome.RUNNING).values(
        "worker", "pid").first()
    if (attempt is None or attempt["pid"] is None or attempt["worker"] != worker
            or not _dead_here(worker, attempt["pid"]) or attempt_alive(worker, task_id, token)):
        return False  # attempt_alive: its supervisor is still killing what it started (issue 10)
    with transaction.atomic():
        task = Task.objects.filter(pk=task_id, status=TaskStatus.RUNNING, attempts=token).get_locked()
        if task is None:
            return False
        kind, ready = _recover_one(task, died=attempt["pid"])
        ready += _handoff(task, kind)
    after_commit(ready)
    if kind != "raced":
        logger.info("weft: task %s attempt %s: process %s died; %s", task_id, token, attempt["pid"], kind)
    return kind != "raced"


def recover_orphans_of(worker: str) -> int:
    """Recover every running task of ``worker`` (a nodename on this host) whose process is gone; how many.

    The worker's heartbeat thread calls this, so a pool process that died is noticed within a
    heartbeat even when no message comes back for it (Celery noticing the death late, or not at all).
    """
    count = 0
    for task_id, token in Task.objects.running().filter(worker=worker).values_list("pk", "attempts"):
        pid = Attempt.objects.filter(task_id=task_id, number=token, outcome=AttemptOutcome.RUNNING).values_list(
            "pid", flat=True).first()
        if pid is not None and _dead_here(worker, pid) and recover_orphan(task_id, worker):
            count += 1
    return count


def _dead_here(worker: str, pid: int) -> bool:
    """True only if ``worker`` (a Celery nodename, name@host) is on this host and process ``pid`` is gone."""
    if worker.rpartition("@")[2] != HOST:
        return False
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
