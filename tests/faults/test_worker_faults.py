"""Workers that die or freeze mid-task: the lease runs out, the sweep recovers, fencing refuses the zombie."""

from __future__ import annotations

import re
import signal
import time

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import (
    LEASE,
    MARGIN,
    SWEEP,
    attempts_of,
    check_history,
    fault_worker,
    kill_pid,
    measure,
    running_attempt,
    start_sweeper,
)
from weft_django import service
from weft_django.models import Attempt, Decision, Task, Worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BOUND = LEASE + SWEEP + MARGIN  # what "recovered within lease + sweep interval + a margin" means here


def recovered_after(task_id: int, killed_at: float, number: int = 2, timeout: float = 60.0) -> float:
    """Seconds from the kill until attempt ``number`` started (the database clock of its claim)."""
    nxt = wait_for(lambda: Attempt.objects.filter(task_id=task_id, number=number).first(), timeout, 0.05,
                   f"attempt {number} of task {task_id}")
    return round(nxt.started_at.timestamp() - killed_at, 2)


def test_faults__sigkill_of_the_pool_process_mid_task(procs: Processes) -> None:
    procs.add(fault_worker())
    procs.add(start_sweeper())
    job = service.submit("t.sleep", {"seconds": 3})
    task = Task.objects.get(job=job)
    first = running_attempt(task.pk)
    time.sleep(0.5)  # well into the task
    assert first.pid is not None

    killed_at = kill_pid(first.pid)
    recovery = recovered_after(task.pk, killed_at)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="succeeded").exists(), 30, 0.1, "the task to succeed")

    measure("T1 pool process SIGKILL: weft recovery (s)", recovery)
    assert recovery <= BOUND
    check_history([task.pk])
    lost, _ = attempts_of(task.pk)
    assert [a.outcome for a in attempts_of(task.pk)] == ["lost", "succeeded"]
    [recover] = Decision.objects.filter(task=task, action="recover")
    assert recover.attempt_id == first.pk
    # Three ways to find it, whichever comes first: the worker's heartbeat thread sees its pool process
    # gone (within WEFT_HEARTBEAT_INTERVAL); Celery notices the death and requeues the message
    # (reject_on_worker_lost), whose claim sees the same; else the lease runs out and the sweep finds it.
    detected = recover.observation["detected"]
    measure("T1 pool process SIGKILL: found by", detected)
    assert detected in ("process_died", "lease_expired")
    how = "process died" if detected == "process_died" else "lease expired"
    assert recover.reason.startswith(f"attempt 1 of 3 was lost (its {how}); retrying in ")
    assert lost.error_type == ("ProcessDied" if detected == "process_died" else "LeaseExpired")
    assert f"pid {first.pid})" in recover.reason


def test_faults__sigkill_of_the_whole_worker_then_a_new_one(procs: Processes) -> None:
    old = procs.add(fault_worker())
    procs.add(start_sweeper())
    job = service.submit("t.sleep", {"seconds": 3})
    task = Task.objects.get(job=job)
    running_attempt(task.pk)
    time.sleep(0.5)

    killed_at = time.time()
    old.kill()  # parent and pool at once: nothing acks, nothing rejects, nothing says goodbye
    new = procs.add(fault_worker())
    ready_after = round(time.time() - killed_at, 2)
    recovery = recovered_after(task.pk, killed_at)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="succeeded").exists(), 30, 0.1, "the task to succeed")

    measure("T2 whole worker SIGKILL + new worker: weft recovery (s)", recovery)
    measure("T2 new worker ready after (s)", ready_after)
    # The new worker may itself take longer than the lease to start on a busy machine.
    assert recovery <= max(BOUND, ready_after + MARGIN)
    check_history([task.pk])
    attempts = attempts_of(task.pk)
    assert [a.outcome for a in attempts] == ["lost", "succeeded"]
    assert attempts[1].worker.startswith(f"{new.name}@")
    # The dead worker's row goes offline once it has been silent for WEFT_WORKER_OFFLINE_AFTER.
    wait_for(lambda: Worker.objects.filter(hostname__startswith=f"{old.name}@", state="offline").exists(), 20, 0.2,
             "the killed worker to be marked offline")
    assert Worker.objects.get(hostname__startswith=f"{new.name}@").state == "online"


def test_faults__frozen_worker_wakes_up_and_its_late_result_is_refused(procs: Processes) -> None:
    frozen = procs.add(fault_worker(concurrency="1"))
    procs.add(start_sweeper())
    job = service.submit("t.sleep", {"seconds": 4})
    task = Task.objects.get(job=job)
    first = running_attempt(task.pk)
    assert first.pid is not None
    stopped_at = kill_pid(first.pid, signal.SIGSTOP)  # a GC pause, a swapped-out VM: alive but silent
    try:
        rescuer = procs.add(fault_worker(concurrency="1"))
        recovery = recovered_after(task.pk, stopped_at)
        wait_for(lambda: Task.objects.filter(pk=task.pk, status="succeeded").exists(), 30, 0.1, "the rescue")
    finally:
        kill_pid(first.pid, signal.SIGCONT)
    wait_for(lambda: Attempt.objects.get(pk=first.pk).outcome != "lost", 30, 0.1, "the zombie to report")

    measure("T3 SIGSTOP past the lease: recovery by another worker (s)", recovery)
    assert recovery <= BOUND + 1  # the rescuer started after the pause began
    check_history([task.pk])
    zombie, rescue = attempts_of(task.pk)
    assert rescue.outcome == "succeeded" and rescue.worker.startswith(f"{rescuer.name}@")
    # The zombie's write was refused: its attempt keeps what it reported, marked discarded, and a decision says so.
    assert zombie.outcome == "discarded" and zombie.worker.startswith(f"{frozen.name}@")
    [discard] = Decision.objects.filter(task=task, action="discard_stale")
    assert discard.attempt_id == zombie.pk and discard.policy == "fencing"
    assert re.match(r"attempt 1 reported \w+ after losing its lease; result not applied", discard.reason)
    task.refresh_from_db()
    assert task.result == 4 and task.attempts == 2
    assert frozen.alive() and frozen.pool_pids()  # the zombie's worker lives on


def test_faults__poison_task_stops_after_its_max_attempts(procs: Processes) -> None:
    w = procs.add(fault_worker())
    procs.add(start_sweeper())
    began = time.monotonic()
    job = service.submit("t.poison")  # SIGKILLs the pool process that runs it, every time (max_attempts 3)
    task = Task.objects.get(job=job)

    wait_for(lambda: Task.objects.filter(pk=task.pk, status="failed").exists(), 60, 0.1, "the poison task to fail")
    took = round(time.monotonic() - began, 1)
    time.sleep(LEASE + 2 * SWEEP)  # nothing more happens afterwards: no requeue storm

    measure("T6 poison task: seconds until it failed after 3 lost attempts", took)
    check_history([task.pk])
    assert [a.outcome for a in attempts_of(task.pk)] == ["lost", "lost", "lost"]
    reasons = list(Decision.objects.filter(task=task, action="recover").order_by("pk").values_list("reason", flat=True))
    assert len(reasons) == 3
    assert re.match(r"attempt 1 of 3 was lost \(its (process died|lease expired)\); retrying in ", reasons[0])
    assert re.match(r"attempt 3 of 3 was lost \(its (process died|lease expired)\); no attempts left", reasons[2])
    assert reasons[2].endswith("the task failed")
    job.refresh_from_db()
    assert job.status == "failed"
    # Each attempt was delivered once by weft, and once more by Celery's reject_on_worker_lost requeue,
    # which the claim refused (the token had moved on): deliveries stay bounded by 2 per attempt.
    received = len(re.findall(r"Task weft_django\.execute\[[^\]]+\] received", w.log_text()))
    measure("T6 poison task: broker deliveries for 3 attempts", received)
    assert received <= 6
    assert w.alive() and w.pool_pids()  # the worker replaced its pool processes and lives on
