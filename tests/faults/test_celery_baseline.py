"""Plain Celery's own recovery on the same broker, measured beside weft's (tests 1 and 2 of the fault tier).

Not a test of weft: it records what weft is compared with (docs/reliability.md). The app sets what the
Celery docs recommend for reliability (acks_late, reject_on_worker_lost, prefetch 1) and leaves Redis's
visibility timeout at its default.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import PRIORITY_SEP, WorkerProcess, start_worker, wait_for, worker_env
from tests.faults.conftest import Processes
from tests.faults.harness import kill_pid, measure, note_ready, warm_up
from tests.faults.plain_app import BROKER, app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WINDOW = 15.0  # how long we wait for plain Celery to run a task again after its whole worker died


@pytest.fixture
def starts() -> Iterator[str]:
    """A Redis list the plain task appends each start to; removed (with the plain queue) afterwards."""
    key = f"plain-starts-{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(BROKER)
    try:
        client.delete(key, "plain", *(f"plain{PRIORITY_SEP}{p}" for p in range(10)))
    finally:
        client.close()


def started(key: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(BROKER)
    try:
        return [json.loads(x) for x in client.lrange(key, 0, -1)]
    finally:
        client.close()


def plain_worker() -> WorkerProcess:
    env = worker_env()
    env.pop("DJANGO_SETTINGS_MODULE", None)  # no Django: Celery alone
    return note_ready(start_worker(app="tests.faults.plain_app", queues="plain", env=env))


def test_baseline__plain_celery_pool_process_sigkill(procs: Processes, starts: str) -> None:
    warm_up(procs.add(plain_worker()))
    app.send_task("plain.sleep", args=(3, starts), queue="plain")
    [first] = wait_for(lambda: started(starts), 30, 0.05, "the plain task to start")
    time.sleep(0.5)

    killed_at = kill_pid(first["pid"])
    second = wait_for(lambda: started(starts)[1:], 30, 0.05, "plain Celery to run the task again")[0]

    measure("T1 pool process SIGKILL: plain Celery re-run after (s)", round(second["t"] - killed_at, 2))


def test_baseline__plain_celery_whole_worker_sigkill(procs: Processes, starts: str) -> None:
    old = procs.add(plain_worker())
    app.send_task("plain.sleep", args=(3, starts), queue="plain")
    wait_for(lambda: started(starts), 30, 0.05, "the plain task to start")
    time.sleep(0.5)

    killed_at = time.time()
    old.kill()
    procs.add(plain_worker())
    deadline = killed_at + WINDOW
    while time.time() < deadline and len(started(starts)) < 2:
        time.sleep(0.1)

    again = started(starts)[1:]
    measure("T2 whole worker SIGKILL + new worker: plain Celery re-run after (s)",
            round(again[0]["t"] - killed_at, 2) if again else f"not within {WINDOW:g} s")
    # The message sits in Redis's "unacked" hash until the visibility timeout (1 h by default) passes
    # and kombu's restore cycle (about every 100 s) sees it: the reason weft recovers from the database.
    assert not again
