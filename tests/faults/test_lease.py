"""A healthy long task keeps its lease by heartbeat; its process title and its worker's row show it running."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import LEASE, fault_worker, measure, running_attempt, start_sweeper, titles
from weft_django import service
from weft_django.dispatch import SWEEP, celery_app
from weft_django.models import Attempt, Decision, SweepRun, Task, Worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_lease__heartbeats_keep_a_task_longer_than_its_lease(procs: Processes) -> None:
    w = procs.add(fault_worker())
    procs.add(start_sweeper())
    job = service.submit("t.sleep", {"seconds": 8})  # 8 s against a 3 s lease, sweeping every second
    task = Task.objects.get(job=job)
    attempt = running_attempt(task.pk)
    sweeps_before = SweepRun.objects.count()

    # The process running it says so (setproctitle), in ps and /proc/<pid>/cmdline.
    shown = wait_for(lambda: titles(w, f"weft-{task.pk}:"), 10, 0.1, "the process title")
    assert shown == [(attempt.pid, f"weft-{task.pk}:t.sleep:running")]
    ps = subprocess.run(["ps", "-o", "args=", "-p", str(attempt.pid)], capture_output=True, text=True, check=True)
    assert ps.stdout.strip() == f"weft-{task.pk}:t.sleep:running"
    # Its worker is online, with its queues and a fresh heartbeat.
    row = wait_for(lambda: Worker.objects.filter(hostname__startswith=f"{w.name}@").first(), 10, 0.1, "worker row")
    assert (row.state, row.pid, row.queues) == ("online", w.pid, ["weft"])
    leases = set()
    while Task.objects.filter(pk=task.pk, status="running").exists():
        leases.add(Task.objects.values_list("lease_expires_at", flat=True).get(pk=task.pk))
        time.sleep(0.25)

    task.refresh_from_db()
    assert task.status == "succeeded" and task.result == 8
    [only] = Attempt.objects.filter(task=task)
    assert only.pk == attempt.pk and only.outcome == "succeeded" and only.duration is not None
    assert only.duration >= 8 > LEASE * 2
    assert not Decision.objects.filter(task=task, action__in=["recover", "discard_stale"]).exists()
    renewals = len(leases - {None})
    measure("heartbeat: lease renewals seen during an 8 s task (lease 3 s, heartbeat 1 s)", renewals)
    assert renewals >= 4  # renewed about every second, never allowed to run out
    assert SweepRun.objects.count() - sweeps_before >= 5  # the sweep was running all along
    beat_before = Worker.objects.get(pk=row.pk).last_heartbeat
    assert beat_before is not None
    wait_for(lambda: Worker.objects.get(pk=row.pk).last_heartbeat != beat_before, 10, 0.2, "a worker heartbeat")

    # The beat schedule sends the Celery task weft_django.sweep; a worker runs it and leaves its record.
    celery_app().send_task(SWEEP, queue="weft")
    wait_for(lambda: SweepRun.objects.filter(pid__in=w.pool_pids()).exists(), 20, 0.1, "the sweep task to run")

    w.stop()
    assert Worker.objects.get(pk=row.pk).state == "offline"  # a warm shutdown says goodbye
