"""A producer that groups its publishes (WEFT_SUBMIT_GROUP_MS) killed with tasks still waiting in its buffer:
each submit returned a committed job, so nothing is lost; the sweep sends what was never published."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT, wait_for, worker_env
from tests.faults.conftest import Processes
from tests.faults.harness import (
    FAULT_ENV,
    MARGIN,
    REDISPATCH,
    SWEEP,
    all_final,
    check_history,
    fault_worker,
    start_sweeper,
)
from weft_django.models import Attempt, Decision, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 30

PRODUCER = f"""
import os, signal, django
django.setup()
import weft_django
from weft_django import grouping
grouping.BUSY_GAP = 60.0  # however slowly this loaded machine submits, the loop counts as busy
jobs = [weft_django.submit("t.add", {{"a": i, "b": 1}}) for i in range({N})]
print(" ".join(f"{{j.pk}}:{{j.delivery.sent}}" for j in jobs), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no atexit flush: the buffer dies with the process
"""


def test_grouping_faults__a_producer_killed_with_a_full_buffer_loses_nothing(procs: Processes) -> None:
    # A window no flush reaches and a group no submit fills: everything after the first two waits in the buffer.
    env = worker_env(None, **{**FAULT_ENV, "WEFT_SUBMIT_GROUP_MS": "600000", "WEFT_BATCH_SIZE": "1000"})
    out = subprocess.run([sys.executable, "-c", PRODUCER], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == -9, out.stderr
    pairs = [p.split(":") for p in out.stdout.split()]
    jobs = [int(j) for j, _ in pairs]
    assert [s for _, s in pairs] == ["1", "1"] + ["None"] * (N - 2)  # sent at once while not busy; then held
    ids = list(Task.objects.filter(job_id__in=jobs).values_list("pk", flat=True))
    assert len(ids) == N  # every job committed before its submit returned

    procs.add(fault_worker())
    procs.add(start_sweeper())
    wait_for(lambda: all_final(ids), REDISPATCH + SWEEP + MARGIN + 60, 0.2, "the unsent tasks to be sent and run")
    outcomes = check_history(ids)
    assert outcomes == {"succeeded": N}, outcomes
    results = Task.objects.filter(pk__in=ids).values_list("result", flat=True)
    assert sorted(r for r in results if r is not None) == list(range(1, N + 1))
    assert Attempt.objects.filter(task_id__in=ids).count() == N
    # The sweep sent the 28 it found queued and never claimed, and said so.
    resent = Decision.objects.filter(task_id__in=ids, policy="recover.redispatch").count()
    assert resent >= N - 2, resent
