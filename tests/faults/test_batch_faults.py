"""Batched execution under worker faults: a pool process killed or frozen midway through a chunk of tasks
(one weft_django.execute_many message). Nothing is lost, nothing is recorded twice: every task ends
succeeded with exactly one succeeded attempt, and no attempt is left open (harness.check_history)."""

from __future__ import annotations

import re
import signal
from collections import Counter

import pytest
from pytest_django import Settings

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import LEASE, all_final, check_history, fault_worker, kill_pid, measure, start_sweeper
from weft_django import service
from weft_django.models import Attempt, Decision, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CHUNK = 8


def chunk_job(settings: Settings, seconds: float) -> list[int]:
    """One job of CHUNK sleeping tasks, sent as one message (WEFT_BATCH_SIZE >= CHUNK)."""
    settings.WEFT_BATCH_SIZE = 20
    job = service.submit_job({"name": "chunk", "tasks": [
        {"key": f"k{i}", "skill": "t.sleep", "params": {"seconds": seconds}} for i in range(CHUNK)]})
    return list(Task.objects.filter(job=job).order_by("pk").values_list("pk", flat=True))


def midway(ids: list[int]) -> Attempt:
    """Wait until the first two tasks of the chunk are recorded (the third runs, the rest are claimed and wait
    their turn): the third's attempt. Every task's attempt was opened by the chunk's one claim."""
    wait_for(lambda: Task.objects.filter(pk__in=ids[:2], status="succeeded").count() == 2, 60, 0.02,
             "the first two tasks of the chunk to be recorded")
    attempts = list(Attempt.objects.filter(task_id__in=ids).values_list("task_id", "outcome", "celery_id"))
    assert len({c for *_, c in attempts}) == 1 and len(attempts) == CHUNK, attempts  # claimed together
    assert {t for t, o, _ in attempts if o == "running"} == set(ids[2:])
    return Attempt.objects.get(task_id=ids[2], number=1)


def test_faults__sigkill_of_the_pool_process_midway_through_a_chunk(procs: Processes, settings: Settings) -> None:
    procs.add(fault_worker(concurrency="1", WEFT_BATCH_SIZE="20"))
    procs.add(start_sweeper())
    ids = chunk_job(settings, 0.6)
    third = midway(ids)
    assert third.pid is not None
    kill_pid(third.pid)

    wait_for(lambda: all_final(ids), 90, 0.1, "every task of the chunk to be final")
    outcomes = check_history(ids)
    measure("B1 chunk, pool process SIGKILL: attempts by outcome", dict(outcomes))
    assert set(Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}
    # The task that ran and those that waited their turn (claimed with it) were lost with the process and
    # recovered one by one; the two before it were recorded (not run again).
    lost = set(Attempt.objects.filter(task_id__in=ids, outcome="lost").values_list("task_id", flat=True))
    assert ids[2] in lost and not lost & set(ids[:2])
    assert Counter(Attempt.objects.filter(task_id__in=ids[:2]).values_list("outcome", flat=True)) == {"succeeded": 2}
    # Each lost attempt has its recover decision (the sweep's re-sends of queued retries are recover decisions
    # too, without an attempt).
    lost_attempts = set(Attempt.objects.filter(task_id__in=ids, outcome="lost").values_list("pk", flat=True))
    assert set(Decision.objects.filter(task_id__in=ids, action="recover", attempt__isnull=False)
               .values_list("attempt_id", flat=True)) == lost_attempts


def test_faults__frozen_midway_through_a_chunk_its_late_results_are_refused(procs: Processes,
                                                                           settings: Settings) -> None:
    frozen = procs.add(fault_worker(concurrency="1", WEFT_BATCH_SIZE="20"))
    procs.add(start_sweeper())
    ids = chunk_job(settings, 0.6)
    third = midway(ids)
    assert third.pid is not None
    kill_pid(third.pid, signal.SIGSTOP)  # past the lease: its task, and those waiting behind it, are recovered
    try:
        rescuer = procs.add(fault_worker(concurrency="1", WEFT_BATCH_SIZE="20"))
        wait_for(lambda: all_final(ids), 90, 0.1, "the rescue of every task of the chunk")
    finally:
        kill_pid(third.pid, signal.SIGCONT)
    # The frozen process wakes up: its running task reports late, the tasks still waiting are not started
    # (their leases ran out while it slept), nothing more is recorded.
    wait_for(lambda: not Attempt.objects.filter(task_id__in=ids, outcome="running").exists(), 30, 0.1,
             "the zombie to report")
    # Then it goes through the tasks that waited behind it, starts none (their leases ran out), and ends the
    # chunk: Celery logs the message done. Only after that is "none of the waiting ones ran" a finding.
    wait_for(lambda: re.search(r"weft_django\.execute_many\[[^\]]+\] succeeded", frozen.log_text()), 60, 0.1,
             "the woken process to end its chunk")

    outcomes = check_history(ids)
    measure("B2 chunk, SIGSTOP past the lease: attempts by outcome", dict(outcomes))
    assert set(Task.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"succeeded"}
    by_frozen = list(Attempt.objects.filter(task_id__in=ids, worker__startswith=f"{frozen.name}@")
                     .values_list("task_id", "outcome", "finished_at"))
    assert ids[2] in {t for t, o, _ in by_frozen if o == "discarded"}  # its late result refused
    after = Attempt.objects.filter(task_id__in=ids[3:], worker__startswith=f"{frozen.name}@").exclude(
        outcome="lost")
    assert not after.exists(), list(after.values_list("task_id", "outcome"))  # none of the waiting ones ran
    assert Attempt.objects.filter(task_id__in=ids[2:], outcome="succeeded",
                                  worker__startswith=f"{rescuer.name}@").count() == CHUNK - 2
    assert frozen.alive()


def test_faults__a_long_task_keeps_the_leases_of_those_waiting_behind_it(procs: Processes, settings: Settings) -> None:
    procs.add(fault_worker(concurrency="1", WEFT_BATCH_SIZE="20"))
    procs.add(start_sweeper())
    settings.WEFT_BATCH_SIZE = 20
    job = service.submit_job({"name": "long first", "tasks": [
        {"key": f"k{i}", "skill": "t.sleep", "params": {"seconds": 2 * LEASE if i == 0 else 0.1}} for i in range(4)]})
    ids = list(Task.objects.filter(job=job).order_by("pk").values_list("pk", flat=True))

    wait_for(lambda: all_final(ids), 60, 0.1, "every task of the chunk to be final")
    check_history(ids)
    # Twice the lease and more behind the first task, the others were still held: renewed by the monitor,
    # never taken by the sweep, each run once.
    attempts = list(Attempt.objects.filter(task_id__in=ids).values_list("task_id", "number", "outcome", "celery_id"))
    assert sorted((t, n, o) for t, n, o, _ in attempts) == [(pk, 1, "succeeded") for pk in ids]
    assert len({c for *_, c in attempts}) == 1  # claimed together
    assert not Decision.objects.filter(task_id__in=ids, action="recover").exists()
