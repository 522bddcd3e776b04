"""Limits and locks across real worker processes (issue 12), checked from the attempts' start and end times.

A concurrency limit of 2 holds with 8 pool processes; two tasks whose locks conflict never overlap, two
whose locks are disjoint do; a lock held by a worker that was SIGKILLed is freed by the sweep's recovery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import WorkerProcess, wait_for
from weft_django import service, sweep
from weft_django.models import Attempt, Job, Task
from weft_django.states import TaskStatus

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Queues of their own: the workers these tests start stay idle in the pool for later tests, and must not
# take those tests' tasks (nor an idle worker of an earlier test, with a 30 s lease, take these).
QUEUE = "weft-locks-sigkill"
LIMITS_QUEUE = "weft-governance"


def intervals(job_ids: list[int]) -> list[tuple[datetime, datetime]]:
    rows = list(Attempt.objects.filter(job_id__in=job_ids).values_list("started_at", "finished_at"))
    assert all(end is not None for _, end in rows)
    return [(start, end) for start, end in rows if end is not None]


def max_overlap(spans: list[tuple[datetime, datetime]]) -> int:
    """The most attempts running at one moment (an end at the moment another starts is not an overlap)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    now = most = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def all_done(job_ids: list[int]) -> bool:
    return not Job.objects.filter(pk__in=job_ids, status="running").exists()


def test_a_concurrency_limit_of_2_holds_across_8_processes(worker_factory: Callable[..., WorkerProcess]) -> None:
    worker_factory(concurrency=8, queues=LIMITS_QUEUE)
    jobs = [service.submit("t.limited", {"seconds": 0.3}, queue=LIMITS_QUEUE).pk for _ in range(16)]
    wait_for(lambda: all_done(jobs), 60, 0.1, "16 limited tasks to finish")
    assert set(Job.objects.filter(pk__in=jobs).values_list("status", flat=True)) == {"succeeded"}
    spans = intervals(jobs)
    assert len(spans) == 16  # one attempt each: a held-back claim opens none
    assert max_overlap(spans) == 2  # never more than 2, and the 2 slots were used


def test_conflicting_locks_never_overlap_and_disjoint_ones_run_in_parallel(
        worker_factory: Callable[..., WorkerProcess]) -> None:
    worker_factory(concurrency=4, queues=LIMITS_QUEUE)
    conflicting = [service.submit("t.locked", {"path": p, "seconds": 1.0}, queue=LIMITS_QUEUE).pk
                   for p in ("src/**", "src/app.py")]
    wait_for(lambda: all_done(conflicting), 60, 0.1, "the conflicting pair to finish")
    assert max_overlap(intervals(conflicting)) == 1
    disjoint = [service.submit("t.locked", {"path": p, "seconds": 1.0}, queue=LIMITS_QUEUE).pk
                for p in ("docs/a", "src/b")]
    wait_for(lambda: all_done(disjoint), 60, 0.1, "the disjoint pair to finish")
    assert max_overlap(intervals(disjoint)) == 2
    assert set(Job.objects.filter(pk__in=conflicting + disjoint).values_list("status", flat=True)) == {"succeeded"}


def test_the_lock_of_a_sigkilled_holder_is_freed_by_the_sweep(worker_factory: Callable[..., WorkerProcess]) -> None:
    lease: dict[str, Any] = {"WEFT_LEASE_SECONDS": "2", "WEFT_HEARTBEAT_INTERVAL": "0.5"}
    first = worker_factory(concurrency=2, queues=QUEUE, **lease)
    holder = service.submit("t.locked", {"path": "shared", "seconds": 60}, queue=QUEUE)
    [held] = Task.objects.filter(job_id=holder.pk)
    wait_for(lambda: Task.objects.filter(pk=held.pk, status=TaskStatus.RUNNING).exists(), 30, 0.05, "the holder")
    waiter = service.submit("t.locked", {"path": "shared", "seconds": 0.1}, queue=QUEUE)
    [waiting] = Task.objects.filter(job_id=waiter.pk)
    wait_for(lambda: "held by task" in Task.objects.get(pk=waiting.pk).waiting_for, 30, 0.05, "the waiter to wait")
    first.kill()
    worker_factory(concurrency=2, queues=QUEUE, WEFT_LEASE_SECONDS="2.5", WEFT_HEARTBEAT_INTERVAL="0.5")
    # Not a timer: while the lease is out but nobody recovered the task, the lock is still held.
    wait_for(lambda: Task.objects.filter(pk=held.pk, lease_expires_at__lt=datetime.now().astimezone()).exists(),
             30, 0.1, "the holder's lease to run out")
    assert Task.objects.get(pk=waiting.pk).status == TaskStatus.QUEUED
    result = sweep.sweep()
    assert result.get("lost") == 1, result
    wait_for(lambda: Task.objects.get(pk=waiting.pk).status == TaskStatus.SUCCEEDED, 30, 0.1, "the waiter to run")
    lost = Attempt.objects.get(task_id=held.pk, number=1)
    ran = Attempt.objects.get(task_id=waiting.pk)
    assert lost.outcome == "lost" and ran.started_at is not None and lost.finished_at is not None
    assert ran.started_at >= lost.finished_at  # it started only once the recovery had ended the holder's attempt
    service.cancel(holder.pk)
