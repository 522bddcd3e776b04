"""The recovery sweep: finds what the broker or a dead worker lost and puts it right, from the database alone.

Run by the Celery task ``weft_django.sweep`` (scheduled by django-celery-beat, see ``install_schedule``) and
by ``manage.py weft_sweep``. Every step works in short transactions on rows it locks with SKIP LOCKED, so
two sweeps at once split the work instead of doing it twice; on SQLite (no row locks) they simply serialise.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil
from django.db import close_old_connections, transaction
from django.db.models import Case, Count, DateTimeField, Value, When
from django.db.models.functions import Now
from django.utils import timezone

from . import completion, engine, handoff, transitions, workers
from .conf import settings
from .deciders import DEFAULT_LIMIT_POLICY, Failure, decide_failure
from .execution.supervisor import attempt_alive
from .handoff import Ready
from .models import Attempt, Decision, Job, SweepRun, Task
from .spec import RetryPolicy
from .states import AttemptOutcome, DecisionAction, JobStatus, TaskStatus

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "weft-sweep"
REDISPATCH_BACKOFF_STEPS = 2  # after its n-th re-send a task waits 2**(n+1) x WEFT_REDISPATCH_AFTER: 2, 4, 8 at most
STEPS = ("deadlines", "expired", "undelivered", "workers")


def sweep() -> dict[str, Any]:
    """Run every step once; return (and log, and keep as a SweepRun row) how many rows each one handled.

    A step that fails (the database went away) is logged and skipped; the next run tries again.
    """
    started = timezone.now()
    counts: Counter[str] = Counter()
    errors: list[str] = []
    steps: dict[str, Callable[[Counter[str]], None]] = {
        "deadlines": _stop_past_deadline, "expired": _recover_expired,
        "undelivered": _redispatch_undelivered, "workers": _workers_offline,
    }
    for name in STEPS:
        try:
            steps[name](counts)
        except Exception as exc:  # one broken step must not stop the others
            logger.exception("weft sweep: step %s failed", name)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            close_old_connections()  # a connection the failure broke is replaced for the next step
    result: dict[str, Any] = {k: counts[k] for k in sorted(counts) if counts[k]}
    if errors:
        result["errors"] = errors
    if any(counts.values()) or errors:
        logger.info("weft sweep: %s", result)
    else:
        logger.debug("weft sweep: nothing to do")
    _keep_record(started, dict(counts), errors)
    return result


def _keep_record(started: Any, counts: dict[str, int], errors: list[str]) -> None:
    try:
        run = SweepRun.objects.create(started_at=started, finished_at=timezone.now(), host=engine.HOST,
                                      pid=os.getpid(), counts={k: v for k, v in counts.items() if v},
                                      error="\n".join(errors))
        SweepRun.objects.filter(pk__lte=run.pk - max(1, settings.SWEEP_KEEP_RUNS)).delete()
    except Exception:  # the record is a convenience; the database may be what failed
        logger.exception("weft sweep: could not record the run")


# ---------------------------------------------------------------- (1) job deadlines


def _stop_past_deadline(counts: Counter[str]) -> None:
    """Running jobs past their deadline: stop them (idle tasks cancelled, running ones asked to stop)."""
    for pk in list(Job.objects.past_deadline().values_list("pk", flat=True)[:settings.SWEEP_BATCH]):
        with transaction.atomic():
            job = Job.objects.past_deadline().filter(pk=pk).get_locked()
            if job is None or job.deadline is None:  # another sweep holds it, or it just finished
                continue
            late = (timezone.now() - job.deadline).total_seconds()
            if completion.stop_job(pk, f"deadline passed at {job.deadline.isoformat()} ({late:.1f} s ago) "
                                   f"with {job.tasks_open} task(s) not final"):
                counts["deadlines"] += 1


# ---------------------------------------------------------------- (2) expired leases


def _recover_expired(counts: Counter[str]) -> None:
    """Running tasks whose lease ran out: their attempt is lost; retry within the policy, else fail."""
    for pk in list(Task.objects.expired().order_by("lease_expires_at")
                   .values_list("pk", flat=True)[:settings.SWEEP_BATCH]):
        ready: list[Ready] = []
        with transaction.atomic():
            # Locked, and re-checked under the lock: a renewal that won the race makes this None.
            task = Task.objects.expired().filter(pk=pk).get_locked()
            if task is None:
                continue
            kind, ready = _recover_one(task)
            if kind != "raced":
                counts["lost"] += 1
            counts[kind] += 1
        handoff.after_commit(ready)


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
    job = Job.objects.values("status", "max_attempts", "max_cost", "cost", "deadline").get(pk=task.job_id)
    if task.cancel_requested or job["status"] != JobStatus.RUNNING:
        # Its job ended or someone cancelled it while it ran: nothing to retry, and its worker is gone.
        if not transitions.cancel_running(task.pk, token, "cancelled; its attempt was lost"):
            return "raced", []
        _close_lost(attempt, loss)
        _decide(task, attempt, f"attempt {token} was lost {loss.short} while a cancel was pending; the task is "
                f"cancelled ({where})", "recover.cancel", observation)
        return "cancelled", completion.task_final(task.job_id, task.pk, succeeded=False,
                                              has_dependents=task.has_dependents, parent_id=task.parent_id)
    budget = completion.job_budget(task.job_id, max_attempts=job["max_attempts"], max_cost=job["max_cost"],
                                   deadline=job["deadline"], cost=job["cost"])
    choice = decide_failure(
        Failure(attempt=token, error_type="LeaseExpired", message=loss.detail, outcome="lost"),
        RetryPolicy(**task.retry), budget=budget, now=time.time(), rand=random.random(),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    observation.update(choice.observation)
    reason = f"{choice.reason.replace('(its lease expired)', loss.short)} ({where})"
    if choice.action == "retry":
        if not recover(task.pk, token, delay=choice.delay, error=f"attempt {token} was lost {loss.short}"):
            return "raced", []
        _close_lost(attempt, loss)
        _decide(task, attempt, reason, choice.policy, observation)
        return "retried", [Ready(task.pk, token, task.queue, task.priority, choice.delay)]
    if not fail(task.pk, token, f"attempt {token} was lost {loss.short}; {choice.reason}"):
        return "raced", []
    _close_lost(attempt, loss)
    _decide(task, attempt, f"{reason}; the task failed", choice.policy, observation)
    return "failed", completion.fail_for_good(task.job_id, task.pk, choice, has_dependents=task.has_dependents,
                                              parent_id=task.parent_id)


def _close_lost(attempt: Mapping[str, Any] | None, loss: _Loss) -> None:
    if attempt is not None:
        Attempt.objects.filter(pk=attempt["pk"], outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.LOST, finished_at=Now(),
            error_type="LeaseExpired" if loss.how == "lease_expired" else "ProcessDied", error_message=loss.detail,
        )


def _decide(task: Task, attempt: Mapping[str, Any] | None, reason: str, policy: str,
            observation: dict[str, Any]) -> None:
    completion.decide(task.job_id, task.pk, attempt["pk"] if attempt else None, DecisionAction.RECOVER, reason,
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
    handoff.after_commit(ready)
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
    if worker.rpartition("@")[2] != engine.HOST:
        return False
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


# ---------------------------------------------------------------- (3) lost messages and due retries


def _redispatch_undelivered(counts: Counter[str]) -> None:
    """Queued, due tasks that no worker claimed within WEFT_REDISPATCH_AFTER: send them again.

    Covers a message the broker lost (restart without persistence, a dead worker's prefetched or ETA
    messages), a retry whose delayed message never arrived, and a publish that failed (the broker was
    down when the task was submitted or readied). The message carries the current token, so if the
    first message does turn up after all, only one of the two claims anything.

    A task may also just be waiting behind a long queue: after each re-send the same task waits twice
    as long as before (2, 4, then 8 x WEFT_REDISPATCH_AFTER at most), so a backlog does not fill the
    broker with copies. Only a re-send the broker took counts: one that failed (the broker is still
    down) is tried again at the next sweep, and the hold doubles only after a message really went out.
    """
    after = settings.REDISPATCH_AFTER
    with transaction.atomic():
        rows = list(Task.objects.undelivered(after).select_for_update(skip_locked=True).order_by("dispatched_at")
                    .values_list("pk", "job_id", "attempts", "queue", "priority", "dispatched_at")
                    [:settings.SWEEP_BATCH])
        if not rows:
            return
        ids = [r[0] for r in rows]
        sent_before = dict(Decision.objects.filter(task_id__in=ids, policy="recover.redispatch")
                           .values_list("task_id").annotate(n=Count("pk")).order_by())
        by_times: dict[int, list[int]] = {}
        for pk in ids:
            by_times.setdefault(min(sent_before.get(pk, 0), REDISPATCH_BACKOFF_STEPS), []).append(pk)
        for times, group in by_times.items():
            # The next look comes ``after`` seconds past the hold: 2, 4, then 8 x ``after`` from now. The
            # hold also keeps a concurrent sweep off these rows once this transaction commits.
            transitions.redispatched_holding(group, after * (2 ** (times + 1) - 1))
    # Published after the commit, here rather than on_commit, to learn what went out: the first ``sent``.
    from .dispatch import publish  # Celery only where something is sent (handoff.py)

    sent, error = publish([Ready(pk, token, queue, priority) for pk, _, token, queue, priority, _ in rows])
    with transaction.atomic():
        if sent < len(rows):
            # Not sent: back to when it was last sent, so it is due again at the next sweep, with no re-send counted.
            Task.objects.filter(pk__in=[r[0] for r in rows[sent:]], status=TaskStatus.QUEUED).update(
                dispatched_at=Case(*[When(pk=r[0], then=Value(r[5])) for r in rows[sent:]],
                                   output_field=DateTimeField()))
        now = timezone.now()
        Decision.objects.bulk_create([
            Decision(job_id=job_id, task_id=pk, action=DecisionAction.RECOVER, policy="recover.redispatch",
                     observation={"token": token, "dispatched_at": at.isoformat() if at else None,
                                   "sent_again_before": sent_before.get(pk, 0)},
                     reason=f"queued and not claimed by any worker {_age(now, at)} after it was sent "
                            f"(limit {after:g} s): the message was probably lost; sent again")
            for pk, job_id, token, _, _, at in rows[:sent]
        ])
    counts["redispatched"] += sent
    if error:
        counts["redispatch_failed"] += len(rows) - sent
        logger.warning("weft sweep: %d task(s) not re-sent (%s); the next sweep tries again", len(rows) - sent, error)


def _age(now: Any, then: Any) -> str:
    return f"{(now - then).total_seconds():.1f} s" if then is not None else "ever"


# ---------------------------------------------------------------- (4) silent workers


def _workers_offline(counts: Counter[str]) -> None:
    counts["workers_offline"] += workers.mark_silent_offline(settings.WORKER_OFFLINE_AFTER)


# ---------------------------------------------------------------- the beat schedule


def install_schedule(using: str = "default") -> bool:
    """Create or update the django-celery-beat PeriodicTask ``weft-sweep`` (every WEFT_SWEEP_INTERVAL s).

    Returns False when django_celery_beat is not installed. An operator's choice to disable the
    task in the admin is kept: only a new task is created enabled.
    """
    from django.apps import apps

    if not apps.is_installed("django_celery_beat"):
        return False
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from .dispatch import SWEEP

    every = max(1, round(settings.SWEEP_INTERVAL))
    with transaction.atomic(using=using):
        interval, _ = IntervalSchedule.objects.using(using).get_or_create(every=every, period=IntervalSchedule.SECONDS)
        fields = {
            "task": SWEEP, "interval": interval, "crontab": None, "solar": None, "clocked": None,
            "queue": settings.SWEEP_QUEUE or settings.DEFAULT_QUEUE,
            # A sweep that waited longer than a few intervals is stale: the next one does the same work.
            "expire_seconds": max(every * 3, 10),
            "description": "weft: recover lost attempts and messages, stop late jobs, mark silent workers "
                           "(created by weft_django; see docs/reliability.md).",
        }
        PeriodicTask.objects.using(using).update_or_create(name=SCHEDULE_NAME, defaults=fields,
                                                          create_defaults={**fields, "enabled": True})
    return True


def loop(interval: float, stop: Callable[[], bool] = lambda: False, on_run: Callable[[dict[str, Any]], None]
         | None = None) -> None:
    """Sweep every ``interval`` seconds until ``stop()`` is true (``manage.py weft_sweep --loop``)."""
    from django.db import connection

    while not stop():
        began = time.monotonic()
        try:
            result = sweep()
        except Exception:  # the database is down: keep looping, the next run will get through
            logger.exception("weft sweep failed")
            connection.close()
            result = {"errors": ["sweep failed"]}
        if on_run is not None:
            on_run(result)
        close_old_connections()
        time.sleep(max(0.0, interval - (time.monotonic() - began)))

