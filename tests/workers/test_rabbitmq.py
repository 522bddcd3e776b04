"""The same guarantees on RabbitMQ: real `celery worker` subprocesses on an AMQP broker, PostgreSQL as the truth.

Every test here publishes through ``tests.celery_amqp:app`` (the pytest process, by WEFT_CELERY_APP) and
starts workers of that app whose own publishes (retries, fan-out chunks, recovery) go there too. The
``weft`` queue is deleted once, before this process publishes anything, so that it is declared afresh
with x-max-priority; each test then starts from an empty one.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import WorkerProcess, start_worker, wait_for, worker_env
from tests.faults.harness import FAULT_ENV, LEASE, MARGIN, SWEEP, running_attempt, start_sweeper, titles
from weft_django import service
from weft_django.dispatch import EXECUTE, celery_app
from weft_django.models import Attempt, Decision, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

APP = "tests.celery_amqp"
FINISH = 30.0


_deleted: list[str] = []


def fresh_queue(name: str = "weft") -> None:
    """Delete the queue the first time (a queue left by another run may lack x-max-priority), then purge it.

    Deleted only once: kombu remembers per connection what it declared, and would not declare a queue
    deleted behind its back again, so messages published to it would be dropped.
    """
    from tests.celery_amqp import app

    with app.connection_for_write() as conn:
        queue = app.amqp.queues[name](conn.default_channel)  # as a worker declares it: x-max-priority 10
        if name not in _deleted:
            queue.delete()
            queue.declare()
            _deleted.append(name)
        else:
            queue.purge()


def queue_depth(name: str = "weft") -> int:
    """Messages ready in the queue (not those delivered and unacknowledged)."""
    return int(_declared(name).message_count)


def queue_consumers(name: str = "weft") -> int:
    return int(_declared(name).consumer_count)


def _declared(name: str) -> Any:
    from amqp.exceptions import NotFound

    from tests.celery_amqp import app

    with app.connection_for_write() as conn, conn.channel() as channel:  # its own: NotFound closes it
        try:
            return app.amqp.queues[name](channel).queue_declare(passive=True)
        except NotFound:  # no such queue (yet): nothing in it, nobody reading it
            return type("Absent", (), {"message_count": 0, "consumer_count": 0})()


def in_skill(w: WorkerProcess, task_id: int) -> None:
    """Wait until the skill itself runs (its process title says so), so that a kill lands mid-task."""
    wait_for(lambda: titles(w, f"weft-{task_id}:t.sleep:running"), FINISH, 0.05, "the skill to be running")


@pytest.fixture
def amqp(settings: Any, django_db_setup: None) -> Iterator[Callable[..., WorkerProcess]]:
    """Publish to RabbitMQ from here; the fixture's value starts RabbitMQ workers (stopped at the end)."""
    settings.WEFT_CELERY_APP = f"{APP}:app"
    # Every test's workers are stopped when it ends: a consumer now is someone else's, and would take these
    # tests' messages. Looked for before the queue is deleted too (which cancels it, until it consumes again).
    for look in (lambda: None, fresh_queue):
        look()
        if queue_consumers():
            pytest.fail(f"{queue_consumers()} consumer(s) outside this test run read the 'weft' queue of "
                        f"{os.environ.get('WEFT_TEST_AMQP_URL', 'the test broker')}: a worker left running on "
                        "this RabbitMQ would take these tests' messages; stop it", pytrace=False)
    started: list[WorkerProcess] = []

    def worker(**kwargs: Any) -> WorkerProcess:
        w = start_worker(app=APP, WEFT_TEST_CELERY_APP=f"{APP}:app", **kwargs)
        started.append(w)
        return w

    yield worker
    for w in started:
        w.stop()


def test_rabbitmq__skills_run_and_a_flaky_one_is_retried_through_the_broker(
        amqp: Callable[..., WorkerProcess]) -> None:
    w = amqp()
    add = service.submit("t.add", {"a": 2, "b": 3})
    echo = service.submit("t.echo", {"text": "over amqp"})
    flaky = service.submit("t.flaky", {"succeed_on": 2})  # its retry is a delayed message the worker sends

    assert service.result(add.pk, timeout=FINISH) == 5
    assert service.result(echo.pk, timeout=FINISH) == {"exit_code": 0, "stdout": "over amqp\n"}
    assert service.result(flaky.pk, timeout=FINISH) == 2
    attempts = list(Attempt.objects.filter(job=flaky).order_by("number"))
    assert [(a.number, a.outcome) for a in attempts] == [(1, "failed"), (2, "succeeded")]
    assert all(a.worker.startswith(f"{w.name}@") for a in attempts)
    assert list(Decision.objects.filter(job=flaky).order_by("pk").values_list("action", flat=True)) == [
        "retry", "succeed"]
    assert "amqp://guest:**@127.0.0.1:5672//" in w.log_text()  # the worker really consumed from RabbitMQ


def test_rabbitmq__priority_zero_is_delivered_before_nine(amqp: Callable[..., WorkerProcess]) -> None:
    # Published while no worker runs: the broker alone decides the order. weft counts 0 first, RabbitMQ
    # delivers the highest number first; dispatch mirrors it.
    late = [service.submit("t.sleep", {"seconds": 0.05}, priority=9) for _ in range(5)]
    first = service.submit("t.sleep", {"seconds": 0.05}, priority=0)
    wait_for(lambda: queue_depth() == 6, 10, message="six messages in the weft queue")

    amqp(concurrency=1)  # prefetch 1 (the test settings): one message at a time, in the broker's order
    for job in [*late, first]:
        service.result(job.pk, timeout=FINISH)
    order = list(Attempt.objects.filter(job__in=[*late, first]).order_by("started_at", "pk")
                 .values_list("job_id", flat=True))
    assert order[0] == first.pk, order


def test_rabbitmq__a_duplicated_message_runs_the_task_once(amqp: Callable[..., WorkerProcess]) -> None:
    w = amqp()
    job = service.submit("t.sleep", {"seconds": 0.5})
    task = Task.objects.get(job=job)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="running").exists(), FINISH,
             message="the task to start running")
    app = celery_app()
    ids = [app.send_task(EXECUTE, args=(task.pk, 0), queue="weft").id for _ in range(2)]

    assert service.result(job.pk, timeout=FINISH) == 0.5
    wait_for(lambda: all(f"[{i}] succeeded" in w.log_text() for i in ids), FINISH,
             message="the worker to handle both copies")
    task.refresh_from_db()
    assert (task.status, task.attempts) == ("succeeded", 1)
    assert [a.outcome for a in Attempt.objects.filter(task=task)] == ["succeeded"]


def test_rabbitmq__a_killed_pool_process_is_recovered_and_the_task_succeeds_once(
        amqp: Callable[..., WorkerProcess]) -> None:
    w = amqp()
    job = service.submit("t.sleep", {"seconds": 3})
    task = Task.objects.get(job=job)
    first = wait_for(lambda: Attempt.objects.filter(task=task, number=1, pid__isnull=False).first(), FINISH,
                     message="attempt 1 to start")
    in_skill(w, task.pk)
    killed_at = time.time()
    os.kill(first.pid, signal.SIGKILL)

    second = wait_for(lambda: Attempt.objects.filter(task=task, number=2).first(), FINISH,
                      message="attempt 2 to start")
    assert service.result(job.pk, timeout=FINISH) == 3
    recovery = second.started_at.timestamp() - killed_at
    # Found through the process's death (the redelivered message or the worker's heartbeat thread),
    # not the 30 s lease.
    assert recovery < 10, recovery
    assert [a.outcome for a in Attempt.objects.filter(task=task).order_by("number")] == ["lost", "succeeded"]
    [recover] = Decision.objects.filter(task=task, action="recover")
    assert recover.observation["detected"] == "process_died"
    assert w.alive()


def test_rabbitmq__a_fanned_out_job_of_600_tasks_completes(amqp: Callable[..., WorkerProcess]) -> None:
    amqp()
    # 600 tasks: the first 250 messages are published here, the rest by the workers in fan-out chunks.
    job = service.submit_job({"tasks": [{"key": f"n{i}", "skill": "t.noop"} for i in range(600)]})

    final = service.wait(job.pk, timeout=120)
    assert final.status == "succeeded"
    assert Task.objects.filter(job=job, status="succeeded").count() == 600
    assert Attempt.objects.filter(job=job, outcome="succeeded").count() == 600
    assert queue_depth() == 0


def test_rabbitmq__a_killed_worker_is_recovered_through_the_lease_and_the_sweep(
        amqp: Callable[..., WorkerProcess]) -> None:
    # RabbitMQ hands the dead worker's unacked message out again at once, but to a worker that cannot
    # know whether the first one still runs it: the claim refuses it, and recovery is the lease's and
    # the sweep's (fault-tier settings: lease 3 s, sweep every 1 s).
    env = worker_env(None, **{**FAULT_ENV, "WEFT_TEST_CELERY_APP": f"{APP}:app"})
    started: list[WorkerProcess] = []
    try:
        old = start_worker(app=APP, env=env)
        started += [old, start_sweeper(WEFT_TEST_CELERY_APP=f"{APP}:app")]
        job = service.submit("t.sleep", {"seconds": 2})
        task = Task.objects.get(job=job)
        running_attempt(task.pk)
        in_skill(old, task.pk)
        killed_at = time.time()
        old.kill()  # the whole worker: nothing acks, nothing rejects
        new = start_worker(app=APP, env=env)
        started.append(new)
        ready_after = time.time() - killed_at

        second = running_attempt(task.pk, number=2, timeout=60)
        recovery = second.started_at.timestamp() - killed_at
        assert recovery <= max(LEASE + SWEEP + MARGIN, ready_after + MARGIN), recovery
        assert service.result(job.pk, timeout=FINISH) == 2
        assert [a.outcome for a in Attempt.objects.filter(task=task).order_by("number")] == ["lost", "succeeded"]
        assert Attempt.objects.get(task=task, number=2).worker.startswith(f"{new.name}@")
    finally:
        for w in reversed(started):
            w.stop()
