"""The sweep as deployed: a real ``celery beat`` (django-celery-beat's DatabaseScheduler) sends the
``weft-sweep`` PeriodicTask that ``migrate`` installs, and a real worker runs it and recovers a lost task."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import WorkerProcess, purge_broker, wait_for, worker_env
from tests.db.test_sweep import IDLE_QUEUE, expire, running
from weft_django import sweep
from weft_django.models import Attempt, SweepRun

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_beat__drives_the_sweep_on_a_worker_which_recovers_a_lost_task(
        settings: Any, worker_factory: Callable[..., WorkerProcess]) -> None:
    settings.WEFT_SWEEP_INTERVAL = 1.0
    assert sweep.install_schedule()  # what migrate did, at a 1 s interval
    w = worker_factory()
    lost = running()  # claimed by a worker that then vanished: only a sweep can find it
    expire(lost.task_id)

    argv = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "beat", "-l", "info",
            "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1", "--pidfile="]
    beat = WorkerProcess(argv, worker_env(), "beat")
    try:
        # Sweeps recorded by the worker's pool processes: sent by beat, not run in this process.
        wait_for(lambda: SweepRun.objects.filter(pid__in=w.pool_pids()).count() >= 2, 60, 0.2,
                 "two sweeps sent by beat and run by the worker")
        wait_for(lambda: Attempt.objects.filter(pk=lost.attempt_id, outcome="lost").exists(), 30, 0.2,
                 "the lost attempt to be recorded")
    finally:
        beat.stop()
        purge_broker((IDLE_QUEUE,))  # the retry the sweep sent, which no worker consumes
    assert "Scheduler: Sending due task weft-sweep (weft_django.sweep)" in beat.log_text()
