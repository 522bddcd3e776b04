"""The recovery sweep: finds what the broker or a dead worker lost and puts it right, from the database alone.

Run by the Celery task ``weft_django.sweep`` (scheduled by django-celery-beat, see ``install_schedule``) and
by ``manage.py weft_sweep``. Every step works in short transactions on rows it locks with SKIP LOCKED, so
two sweeps at once split the work instead of doing it twice; on SQLite (no row locks) they simply serialise.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, transaction
from django.db.models import Case, Count, DateTimeField, Value, When
from django.utils import timezone

from . import retention, tallies, transitions, workers
from .conf import settings
from .handoff import Ready
from .lifecycle import graph, ledger, recover
from .lifecycle.claim import HOST
from .models import Decision, Job, SweepRun, Task
from .states import DecisionAction, TaskStatus

logger = logging.getLogger(__name__)

SCHEDULE_NAME = "weft-sweep"
REDISPATCH_BACKOFF_STEPS = 2  # after its n-th re-send a task waits 2**(n+1) x WEFT_REDISPATCH_AFTER: 2, 4, 8 at most
STEPS = ("deadlines", "expired", "undelivered", "waiting", "workers", "retention", "tallies")


def sweep() -> dict[str, Any]:
    """Run every step once; return (and log, and keep as a SweepRun row) how many rows each one handled.

    A step that fails (the database went away) is logged and skipped; the next run tries again.
    """
    started = timezone.now()
    counts: Counter[str] = Counter()
    errors: list[str] = []
    steps: dict[str, Callable[[Counter[str]], None]] = {
        "deadlines": _stop_past_deadline, "expired": _recover_expired,
        "undelivered": _redispatch_undelivered, "waiting": _reoffer_waiting, "workers": _workers_offline,
        "retention": _prune, "tallies": _tallies,
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
        run = SweepRun.objects.create(started_at=started, finished_at=timezone.now(), host=HOST,
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
            if graph.stop_job(pk, f"deadline passed at {job.deadline.isoformat()} ({late:.1f} s ago) "
                              f"with {job.tasks_open} task(s) not final"):
                counts["deadlines"] += 1


# ---------------------------------------------------------------- (2) expired leases


def _recover_expired(counts: Counter[str]) -> None:
    """Running tasks whose lease ran out: their attempt is lost (lifecycle/recover.py)."""
    for pk in list(Task.objects.expired().order_by("lease_expires_at")
                   .values_list("pk", flat=True)[:settings.SWEEP_BATCH]):
        kind = recover.expired(pk)
        if kind != "raced":
            counts["lost"] += 1
        counts[kind] += 1


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
        ledger.write_many([
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


def _reoffer_waiting(counts: Counter[str]) -> None:
    """Tasks held back at a claim by a limit or a lock and not sent again for WEFT_REDISPATCH_AFTER: a
    holder's end normally sends them (lifecycle/admission.py); this is the backstop if that message was lost.
    No decision: the one written when each started waiting still says why; a claim that admits it clears it."""
    with transaction.atomic():
        rows = list(Task.objects.waiting(settings.REDISPATCH_AFTER).select_for_update(skip_locked=True)
                    .order_by("priority", "dispatched_at").values_list("pk", "attempts", "queue", "priority")
                    [:settings.SWEEP_BATCH])
        transitions.offered([r[0] for r in rows])
    if rows:
        from .dispatch import publish  # Celery only where something is sent (handoff.py)

        sent, _ = publish([Ready(*r) for r in rows])
        counts["reoffered"] += sent


# ---------------------------------------------------------------- (4) silent workers, (5) retention, (6) tallies


def _workers_offline(counts: Counter[str]) -> None:
    counts["workers_offline"] += workers.mark_silent_offline(settings.WORKER_OFFLINE_AFTER)


def _prune(counts: Counter[str]) -> None:
    """One batch of jobs past WEFT_RETENTION (weft_prune does them all): the sweep keeps up a little each run."""
    counts["pruned_jobs"] += retention.prune(max_batches=1).get("job", 0)


def _tallies(counts: Counter[str]) -> None:
    tallies.upkeep()  # the counts of finished work merged, each backlog sampled: upkeep, not counted as work


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

