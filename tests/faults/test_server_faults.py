"""The broker or the database restarts under load (private servers): nothing is lost, nothing runs twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError, connection

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import (
    REDISPATCH,
    PostgresServer,
    RabbitServer,
    RedisServer,
    all_final,
    broker,
    check_history,
    database,
    fault_worker,
    measure,
    migrate,
    start_sweeper,
)
from weft_django.lifecycle import submit as submission
from weft_django.models import Decision, Task
from weft_django.spec import TaskSpec

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def submit_many(n: int, seconds: float, prefix: str) -> list[int]:
    """One job of ``n`` independent ``t.sleep`` tasks; returns their ids."""
    job = submission.create_job([TaskSpec(skill="t.sleep", params={"seconds": seconds}, key=f"{prefix}{i}")
                             for i in range(n)], submission.JobOptions(name=prefix))
    return list(Task.objects.filter(job=job).values_list("pk", flat=True))


def succeeded(ids: list[int]) -> int:
    return Task.objects.filter(pk__in=ids, status="succeeded").count()


def tolerant(predicate: Callable[[], Any]) -> Callable[[], Any]:
    """The predicate, returning False while this process's database connection is broken (a restart)."""

    def check() -> Any:
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            connection.close()
            return False

    return check


def broker_outage(url: str, procs: Processes, n: int, restart: Callable[[], float], label: str) -> dict[str, Any]:
    """``n`` queued tasks on a worker of the broker at ``url``; ``restart()`` it once 20 have run; wait until
    every task is final. Returns what the test asserts on; checks and records the history."""
    with broker(url):
        w = procs.add(fault_worker(WEFT_TEST_BROKER_URL=url))
        procs.add(start_sweeper(WEFT_TEST_BROKER_URL=url))
        ids = submit_many(n, 0.05, label[0].lower())
        wait_for(lambda: succeeded(ids) >= 20, 60, 0.1, "the first tasks to run")

        done_before = succeeded(ids)
        down = restart()
        restarted = time.monotonic()
        wait_for(lambda: all_final(ids), 180, 0.5, f"every task to finish after the {label}")
        drained = round(time.monotonic() - restarted, 1)

    outcomes = check_history(ids)
    redispatched = Decision.objects.filter(task_id__in=ids, policy="recover.redispatch").count()
    measure(f"{label}: tasks done before / messages re-sent by the sweep", f"{done_before} / {redispatched}")
    measure(f"{label}: broker away (s) / all {n} final after (s)", f"{down:.1f} / {drained}")
    measure(f"{label}: attempts by outcome", dict(outcomes))
    return {"succeeded": succeeded(ids), "done_before": done_before, "redispatched": redispatched,
            "drained": drained, "worker": w}


def test_faults__redis_restart_with_500_tasks_queued(redis_server: RedisServer, procs: Processes) -> None:
    # shutdown nosave: every queued, prefetched and unacked message is gone
    r = broker_outage(redis_server.url(), procs, 500, redis_server.restart, "T4 Redis restart")

    assert r["succeeded"] == 500
    assert r["redispatched"] >= 500 - r["done_before"] - 50  # the lost messages came back through the sweep
    assert r["drained"] < REDISPATCH + 120
    assert r["worker"].alive() and r["worker"].pool_pids()  # the worker reconnected and lived on


def test_faults__rabbitmq_crash_with_300_tasks_queued(rabbit_server: RabbitServer, procs: Processes) -> None:
    # SIGKILL of the node: unacked messages return, the ones RabbitMQ had not written are lost
    r = broker_outage(rabbit_server.url(), procs, 300, rabbit_server.restart_after_crash, "T4b RabbitMQ crash")

    assert r["succeeded"] == 300
    assert r["drained"] < REDISPATCH + 120
    assert r["worker"].alive() and r["worker"].pool_pids()


def test_faults__postgres_crash_restart_under_load(pg_server: PostgresServer, procs: Processes) -> None:
    pg_server.create_database("weft")
    url = pg_server.url("weft")
    migrate(url)
    env = {"WEFT_TEST_DATABASE_URL": url, "WEFT_WORKER_DB_NAME": "weft"}
    with database(url):
        w = procs.add(fault_worker(**env))
        procs.add(start_sweeper(**env))
        ids = submit_many(120, 0.1, "p")
        wait_for(lambda: succeeded(ids) >= 20, 60, 0.1, "the first tasks to run")

        done_before = succeeded(ids)
        down = pg_server.restart_immediate()  # a crash: no shutdown checkpoint, WAL recovery on start
        restarted = time.monotonic()
        wait_for(tolerant(lambda: all_final(ids)), 180, 0.5, "every task to finish after the PostgreSQL crash")
        drained = round(time.monotonic() - restarted, 1)

        outcomes = check_history(ids)
        assert succeeded(ids) == 120
        resent = Decision.objects.filter(task_id__in=ids, policy="recover.redispatch").count()
        measure("T5 PostgreSQL crash restart: tasks done before / messages re-sent by the sweep",
                f"{done_before} / {resent}")
        measure("T5 PostgreSQL crash restart: database away (s) / all 120 final after (s)", f"{down:.1f} / {drained}")
        measure("T5 PostgreSQL crash restart: attempts by outcome", dict(outcomes))
    assert w.alive() and len(w.pool_pids()) == 2  # the worker and its pool survived the database crash
