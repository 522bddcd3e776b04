"""``manage.py weft_worker`` and its broker: it lives through Redis restarts, and it exits non-zero when its
Celery worker dies (so that a supervisor's Restart=on-failure starts it again). Private Redis servers only."""

from __future__ import annotations

import sys
import time

import pytest
from django.utils import timezone

from tests.conftest import WorkerProcess, wait_for, worker_env
from tests.faults.conftest import Processes
from tests.faults.harness import (
    FAULT_ENV,
    MARGIN,
    REDISPATCH,
    SWEEP,
    RedisServer,
    all_final,
    broker,
    check_history,
    measure,
    running_attempt,
    start_sweeper,
)
from weft_django import service
from weft_django.models import Decision, Task

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


def test_worker_broker__tasks_submitted_while_redis_is_down_are_sent_at_the_first_sweep_after_it_is_back(
        redis_server: RedisServer, procs: Processes) -> None:
    # While Redis is away the sweep finds the tasks due every second and fails to send them; none of those
    # failures may count as a re-send (each doubled the next wait), so they go out at the first sweep after.
    url = redis_server.url()
    with broker(url):
        w = procs.add(weft_worker(url, "outage"))
        procs.add(start_sweeper(WEFT_TEST_BROKER_URL=url))
        redis_server.shutdown()
        jobs = [service.submit("t.noop") for _ in range(20)]
        assert all(j.delivery is not None and j.delivery.failed for j in jobs)
        time.sleep(REDISPATCH + 12 * SWEEP)  # a dozen sweeps find them due and cannot send them
        redis_server.start()
        back = timezone.now()
        ids = list(Task.objects.filter(job__in=jobs).values_list("pk", flat=True))
        wait_for(lambda: all_final(ids), 120, 0.2, "every task submitted during the outage to finish")
        done = (timezone.now() - back).total_seconds()
    assert check_history(ids) == {"succeeded": 20}
    resent = list(Decision.objects.filter(task_id__in=ids, policy="recover.redispatch").values_list(
        "task_id", "created_at"))
    assert all(at > back for _, at in resent)  # nothing counted as re-sent while Redis was away
    first: dict[int, float] = {}
    for task_id, at in resent:
        first[task_id] = min(first.get(task_id, 1e9), (at - back).total_seconds())
    assert sorted(first) == sorted(ids)
    # (the worker itself reconnects later: Celery waits up to 10 s between tries by then, so some tasks
    # are re-sent once more, 2 x WEFT_REDISPATCH_AFTER later, before it consumes them)
    measure("Redis away 17 s while 20 tasks were submitted: all re-sent / all final after it was back (s)",
            f"{max(first.values()):.1f} / {done:.1f}")
    assert max(first.values()) < SWEEP + MARGIN
    assert w.alive()
