"""``manage.py weft_worker`` and its broker: it lives through Redis restarts, and it exits non-zero when its
Celery worker dies (so that a supervisor's Restart=on-failure starts it again). Private Redis servers only."""

from __future__ import annotations

import sys
import time

import pytest

from tests.conftest import WorkerProcess, wait_for, worker_env
from tests.faults.conftest import Processes
from tests.faults.harness import FAULT_ENV, RedisServer, broker, running_attempt
from weft_django import service
from weft_django.models import Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def weft_worker(url: str, name: str, **env: str) -> WorkerProcess:
    """``manage.py weft_worker -c 2`` on the broker at ``url``, as an operator starts it; ready."""
    argv = [sys.executable, "-m", "django", "weft_worker", "-c", "2", "-n", f"{name}@%h"]
    w = WorkerProcess(argv, worker_env(None, **{**FAULT_ENV, "WEFT_TEST_BROKER_URL": url, **env}), name)
    w.wait_ready()
    return w


def connected(w: WorkerProcess) -> int:
    return w.log_text().count("Connected to redis://")


def test_worker_broker__weft_worker_keeps_serving_through_redis_restarts(
        redis_server: RedisServer, procs: Processes) -> None:
    with broker(redis_server.url()):
        w = procs.add(weft_worker(redis_server.url(), "restarts"))
        for i in range(4):
            # The case that stopped workers: the connection drops while the worker waits for more
            # messages and holds an unacknowledged one (a task running).
            job = service.submit("t.sleep", {"seconds": 3})
            running_attempt(Task.objects.get(job=job).pk)
            before = connected(w)
            redis_server.restart()
            wait_for(lambda: not w.alive() or connected(w) > before, 60, 0.2,  # noqa: B023 (called at once)
                     f"the worker to reconnect after restart {i + 1}")
            assert w.alive(), f"the worker died at Redis restart {i + 1}:\n{w.log_text()[-3000:]}"
        after = service.submit("t.add", {"a": 2, "b": 3})
        assert service.result(after.pk, timeout=60) == 5
    assert w.alive()
    assert "Unrecoverable error" not in w.log_text()


def test_worker_broker__weft_worker_exits_non_zero_when_its_worker_dies(
        redis_server: RedisServer, procs: Processes) -> None:
    # Celery stops a worker whose broker went away when it may not reconnect (celery worker exits 1).
    w = procs.add(weft_worker(redis_server.url(), "dies", DJANGO_SETTINGS_MODULE="tests.faults.settings_no_retry"))
    redis_server.shutdown()
    began = time.monotonic()
    w.proc.wait(60)
    assert w.proc.returncode == 1, f"exit status {w.proc.returncode} ({time.monotonic() - began:.1f} s):\n" \
                                   f"{w.log_text()[-3000:]}"
    assert "Error: the Celery worker exited with status 1" in w.log_text()
