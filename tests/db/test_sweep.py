"""The recovery sweep on PostgreSQL, driven step by step: a claim stands in for a worker that then vanishes."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from tests.conftest import PRIORITY_SEP, purge_broker
from weft_django import checks, service, sweep, workers
from weft_django.dispatch import broker_priority, celery_app
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import graph, recover
from weft_django.lifecycle import submit as submission
from weft_django.models import Attempt, Decision, Job, SweepRun, Task, Worker
from weft_django.spec import TaskSpec

pytestmark = pytest.mark.django_db


# No test worker consumes this queue: what the sweep re-sends stays queued for the assertions, even
# when a worker started by another test of the session is still up.
IDLE_QUEUE = "weft-inprocess-tests"


def running(skill: str = "t.sleep", params: dict[str, Any] | None = None, **opts: Any) -> claiming.Claimed:
    """A task claimed by a (pretend) worker ``w1@test``, as ``execute`` would leave it while the skill runs."""
    opts.setdefault("queue", IDLE_QUEUE)
    job = service.submit(skill, params if params is not None else {"seconds": 1}, **opts)
    task = Task.objects.get(job=job)
    claimed = claiming.claim(task.pk, task.attempts, worker="w1@test")
    assert claimed is not None
    return claimed


def expire(task_id: int) -> None:
    """The worker stopped renewing: its lease ran out a second ago (on the database clock)."""
    Task.objects.filter(pk=task_id).update(lease_expires_at=Now() - timedelta(seconds=1))


def recover_decisions(task_id: int) -> list[Decision]:
    return list(Decision.objects.filter(task_id=task_id, action="recover").order_by("pk"))


def test_sweep__expired_lease_becomes_lost_attempt_and_retry() -> None:
    c = running()
    expire(c.task_id)

    assert sweep.sweep() == {"lost": 1, "retried": 1}

    task = Task.objects.get(pk=c.task_id)
    assert (task.status, task.attempts, task.lease_expires_at) == ("queued", 1, None)
    assert task.not_before is not None and task.error == "attempt 1 was lost (its lease expired)"
    attempt = Attempt.objects.get(pk=c.attempt_id)
    assert (attempt.outcome, attempt.error_type) == ("lost", "LeaseExpired")
    assert attempt.finished_at is not None
    assert attempt.error_message.startswith(f"no heartbeat from worker w1@test pid {attempt.pid}; its lease expired")
    [decision] = recover_decisions(c.task_id)
    assert decision.attempt_id == c.attempt_id
    assert decision.policy == "retry.backoff"
    assert decision.reason.startswith("attempt 1 of 3 was lost (its lease expired); retrying in ")
    assert decision.reason.endswith(f"(worker w1@test pid {attempt.pid})")
    assert decision.observation["token"] == 1 and decision.observation["outcome"] == "lost"
    run = SweepRun.objects.latest("pk")
    assert run.counts == {"lost": 1, "retried": 1} and run.finished_at is not None and run.error == ""


def test_sweep__lost_last_attempt_fails_task_and_job() -> None:
    c = running(retry={"max_attempts": 1})
    expire(c.task_id)

    assert sweep.sweep() == {"failed": 1, "lost": 1}

    task = Task.objects.get(pk=c.task_id)
    assert task.status == "failed" and task.finished_at is not None
    assert Attempt.objects.get(pk=c.attempt_id).outcome == "lost"
    [decision] = recover_decisions(c.task_id)
    assert decision.policy == "retry.max_attempts"
    assert decision.reason.startswith("attempt 1 of 1 was lost (its lease expired); no attempts left (worker w1@test")
    assert decision.reason.endswith("; the task failed")
    job = Job.objects.get(pk=c.job_id)
    assert (job.status, job.tasks_open) == ("failed", 0)
    assert Decision.objects.filter(job_id=c.job_id, action="finish_job").count() == 0  # one task: its fail says it


def test_sweep__job_attempt_budget_stops_the_job_on_a_lost_attempt() -> None:
    job = submission.create_job([TaskSpec(skill="t.sleep", params={"seconds": 1})],
                            submission.JobOptions(max_attempts=1))
    task = Task.objects.get(job=job)
    c = claiming.claim(task.pk, 0, worker="w1@test")
    assert c is not None
    expire(c.task_id)

    assert sweep.sweep() == {"failed": 1, "lost": 1}

    job.refresh_from_db()
    # An exhausted budget ends a job stopped wherever it is found (docs/jobs.md), here by the sweep; the
    # task failing used to make the job final ("failed") before the budget stop could apply.
    assert (job.status, job.stop_reason) == ("stopped", "attempt 1 of 3 was lost (its lease expired); the job's "
                                                        "attempt budget is used up")
    [decision] = recover_decisions(c.task_id)
    assert decision.policy == "budget.max_attempts"


def test_sweep__live_lease_is_left_alone() -> None:
    c = running()

    assert sweep.sweep() == {}

    assert Task.objects.get(pk=c.task_id).status == "running"
    assert Attempt.objects.get(pk=c.attempt_id).outcome == "running"
    assert recover_decisions(c.task_id) == []


def test_sweep__lost_task_of_a_stopped_job_is_cancelled_not_retried() -> None:
    c = running()
    graph.stop_job(c.job_id, "stopped by the test")  # asks the running task to stop; its worker never hears
    expire(c.task_id)

    assert sweep.sweep() == {"cancelled": 1, "lost": 1}

    assert Task.objects.get(pk=c.task_id).status == "cancelled"
    assert Attempt.objects.get(pk=c.attempt_id).outcome == "lost"
    [decision] = recover_decisions(c.task_id)
    assert decision.policy == "recover.cancel"
    assert "while a cancel was pending; the task is cancelled" in decision.reason
    assert Job.objects.get(pk=c.job_id).tasks_open == 0


def broker_messages(queue: str = IDLE_QUEUE) -> list[tuple[str, list[Any]]]:
    """(task name, args) of every message waiting in a queue of our test broker (all priority bands)."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    try:
        keys = [queue, *(f"{queue}{PRIORITY_SEP}{p}" for p in range(10))]
        raw = [json.loads(m) for k in keys for m in client.lrange(k, 0, -1)]
    finally:
        client.close()
    return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in raw]


def test_sweep__unclaimed_task_is_sent_again_with_its_current_token(
        settings: Any, django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    settings.WEFT_REDISPATCH_AFTER = 5.0
    job = service.submit("t.noop", queue=IDLE_QUEUE)
    task = Task.objects.get(job=job)
    Task.objects.filter(pk=task.pk).update(attempts=2, dispatched_at=Now() - timedelta(seconds=6))
    fresh = Task.objects.get(job=service.submit("t.noop", queue=IDLE_QUEUE))  # sent a moment ago: not lost yet
    purge_broker((IDLE_QUEUE, "weft"))

    with django_capture_on_commit_callbacks(execute=True):
        assert sweep.sweep() == {"redispatched": 1}

    assert broker_messages() == [("weft_django.execute", [task.pk, 2])]
    [decision] = recover_decisions(task.pk)
    assert decision.policy == "recover.redispatch"
    assert "not claimed by any worker 6." in decision.reason and "(limit 5 s)" in decision.reason
    assert recover_decisions(fresh.pk) == []
    assert next_look(task.pk) == pytest.approx(10, abs=1)  # backoff: twice the usual wait
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep.sweep() == {}  # sent again just now

    Task.objects.filter(pk=task.pk).update(dispatched_at=Now() - timedelta(seconds=6))  # still nobody took it
    assert sweep.sweep() == {"redispatched": 1}
    assert next_look(task.pk) == pytest.approx(20, abs=1)  # then four times
    for _ in range(3):
        Task.objects.filter(pk=task.pk).update(dispatched_at=Now() - timedelta(seconds=6))
        assert sweep.sweep() == {"redispatched": 1}
    assert next_look(task.pk) == pytest.approx(40, abs=1)  # and never more than eight times
    assert Task.objects.get(pk=task.pk).status == "queued"
    purge_broker((IDLE_QUEUE, "weft"))


def next_look(task_id: int) -> float:
    """Seconds from now until the sweep would send the task again."""
    sent = Task.objects.values_list("dispatched_at", flat=True).get(pk=task_id)
    assert sent is not None
    return (sent - timezone.now()).total_seconds() + 5.0


def test_sweep__retry_is_redispatched_only_after_its_delay(settings: Any) -> None:
    settings.WEFT_REDISPATCH_AFTER = 1.0
    c = running()
    Task.objects.filter(pk=c.task_id).update(
        status="queued", lease_expires_at=None, not_before=Now() + timedelta(seconds=30),
        dispatched_at=Now() + timedelta(seconds=30))  # what transitions.retry leaves for a 30 s backoff

    assert sweep.sweep() == {}

    Task.objects.filter(pk=c.task_id).update(not_before=Now() - timedelta(seconds=2),
                                             dispatched_at=Now() - timedelta(seconds=2))
    assert sweep.sweep() == {"redispatched": 1}  # the delayed message never came: the sweep sends it


def test_sweep__job_past_deadline_is_stopped() -> None:
    job = service.submit("t.noop", queue=IDLE_QUEUE, deadline=timezone.now() + timedelta(hours=1))
    assert sweep.sweep() == {}
    Job.objects.filter(pk=job.pk).update(deadline=Now() - timedelta(seconds=3))

    assert sweep.sweep() == {"deadlines": 1}

    job.refresh_from_db()
    assert job.status == "stopped"
    assert job.stop_reason.startswith("deadline passed at ") and job.stop_reason.endswith("with 1 task(s) not final")
    assert Task.objects.get(job=job).status == "cancelled"
    assert Decision.objects.filter(job=job, action="stop_job").count() == 1


def test_sweep__silent_worker_is_marked_offline(settings: Any) -> None:
    settings.WEFT_WORKER_OFFLINE_AFTER = 30.0
    workers.online("quiet@test", 111, ["weft"])
    workers.online("chatty@test", 222, ["weft", "other"])
    Worker.objects.filter(hostname="quiet@test").update(last_heartbeat=Now() - timedelta(seconds=31))

    assert sweep.sweep() == {"workers_offline": 1}

    assert dict(Worker.objects.values_list("hostname", "state")) == {"quiet@test": "offline", "chatty@test": "online"}
    assert Worker.objects.get(hostname="chatty@test").queues == ["other", "weft"]
    assert workers.beat("quiet@test") is True  # it speaks again: online
    assert Worker.objects.get(hostname="quiet@test").state == "online"
    workers.offline("chatty@test")
    assert Worker.objects.get(hostname="chatty@test").state == "offline"
    assert workers.beat("never-registered@test") is False


def test_sweep__keeps_only_the_last_runs(settings: Any) -> None:
    settings.WEFT_SWEEP_KEEP_RUNS = 2
    for _ in range(4):
        sweep.sweep()
    assert SweepRun.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_sweep__two_sweeps_at_once_recover_each_task_once() -> None:
    claimed = [running() for _ in range(12)]
    for c in claimed:
        expire(c.task_id)
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(sweep.sweep())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sum(r.get("lost", 0) for r in results) == 12
    assert sum(r.get("retried", 0) for r in results) == 12
    for c in claimed:
        assert len(recover_decisions(c.task_id)) == 1
        assert Attempt.objects.get(pk=c.attempt_id).outcome == "lost"
        assert Task.objects.get(pk=c.task_id).status == "queued"
    purge_broker((IDLE_QUEUE, "weft"))


def test_sweep__install_schedule_creates_the_beat_task_once_and_keeps_it_disabled(settings: Any) -> None:
    settings.WEFT_SWEEP_INTERVAL = 7.0
    assert sweep.install_schedule()
    assert sweep.install_schedule()

    [task] = PeriodicTask.objects.filter(name="weft-sweep")
    assert (task.task, task.queue, task.enabled) == ("weft_django.sweep", "weft", True)
    assert task.interval is not None and (task.interval.every, task.interval.period) == (7, "seconds")
    assert task.expire_seconds == 21
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)  # an operator turned it off
    settings.WEFT_SWEEP_INTERVAL = 3.0
    settings.WEFT_SWEEP_QUEUE = "sweeps"
    call_command("weft_sweep", "--install-schedule", stdout=io.StringIO())
    task.refresh_from_db()
    assert task.enabled is False and task.queue == "sweeps"
    assert task.interval is not None and task.interval.every == 3


def test_sweep__migrate_installs_the_schedule() -> None:
    # pytest-django migrated this database: the post_migrate receiver ran (and flush runs it again).
    assert PeriodicTask.objects.filter(name="weft-sweep", task="weft_django.sweep").exists()


def test_sweep__command_prints_counts_as_json() -> None:
    c = running()
    expire(c.task_id)
    out = io.StringIO()

    call_command("weft_sweep", "--json", stdout=out)

    assert json.loads(out.getvalue()) == {"lost": 1, "retried": 1}
    out = io.StringIO()
    call_command("weft_sweep", stdout=out)
    assert out.getvalue().strip() == "nothing to do"


def test_checks__prefetch_multiplier_other_than_one_warns() -> None:
    conf = celery_app().conf
    before = conf.worker_prefetch_multiplier
    try:
        conf.worker_prefetch_multiplier = 4
        ids = [m.id for m in checks.check_reliability()]
        assert "weft.W030" in ids
        conf.worker_prefetch_multiplier = 1
        assert "weft.W030" not in [m.id for m in checks.check_reliability()]
    finally:
        conf.worker_prefetch_multiplier = before


def test_checks__rabbitmq_without_queue_max_priority_warns(settings: Any) -> None:
    assert "weft.W032" not in [m.id for m in checks.check_reliability()]  # Redis orders priorities itself
    settings.WEFT_CELERY_APP = "tests.celery_amqp:app"
    conf = celery_app().conf
    assert conf.task_queue_max_priority == 10
    assert "weft.W032" not in [m.id for m in checks.check_reliability()]
    try:
        conf.task_queue_max_priority = None
        [w032] = [m for m in checks.check_reliability() if m.id == "weft.W032"]
        assert "CELERY_TASK_QUEUE_MAX_PRIORITY = 10" in (w032.hint or "")
    finally:
        conf.task_queue_max_priority = 10


def test_dispatch__priorities_are_mirrored_for_amqp_brokers_only() -> None:
    assert [broker_priority(p, "amqp") for p in (0, 5, 9)] == [9, 4, 0]
    assert [broker_priority(p, "redis") for p in (0, 5, 9)] == [0, 5, 9]
    assert broker_priority(3, "filesystem") == 3


def test_checks__reliability_settings(settings: Any) -> None:
    settings.WEFT_SWEEP_QUEUE = "bad queue!"
    settings.WEFT_WORKER_OFFLINE_AFTER = 1.0
    settings.WEFT_HEARTBEAT_INTERVAL = 1.0
    assert {"weft.E030", "weft.W031"} <= {m.id for m in checks.check_reliability()}
    settings.WEFT_WORKER_OFFLINE_AFTER = 0
    assert "weft.E031" in {m.id for m in checks.check_reliability()}


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_sweep__orphan_of_a_dead_process_on_this_host_is_recovered_at_once() -> None:
    c = running()
    Task.objects.filter(pk=c.task_id).update(worker=f"w1@{claiming.HOST}")
    Attempt.objects.filter(pk=c.attempt_id).update(worker=f"w1@{claiming.HOST}", pid=dead_pid())

    assert recover.recover_orphan(c.task_id, "w9@elsewhere") is False  # only the worker that ran it may tell
    assert recover.recover_orphan(c.task_id, f"w1@{claiming.HOST}") is True  # before its lease ran out

    task = Task.objects.get(pk=c.task_id)
    assert (task.status, task.error) == ("queued", "attempt 1 was lost (its process died)")
    attempt = Attempt.objects.get(pk=c.attempt_id)
    assert (attempt.outcome, attempt.error_type) == ("lost", "ProcessDied")
    assert attempt.error_message.startswith(f"its process {attempt.pid} died (worker w1@{claiming.HOST}")
    [decision] = recover_decisions(c.task_id)
    assert decision.observation["detected"] == "process_died"
    assert decision.reason.startswith("attempt 1 of 3 was lost (its process died); retrying in ")
    assert recover.recover_orphan(c.task_id, f"w1@{claiming.HOST}") is False  # nothing running any more


def test_sweep__orphan_check_leaves_live_or_remote_attempts_alone() -> None:
    alive = running()
    Task.objects.filter(pk=alive.task_id).update(worker=f"w1@{claiming.HOST}")
    Attempt.objects.filter(pk=alive.attempt_id).update(worker=f"w1@{claiming.HOST}", pid=os.getpid())
    remote = running()
    Attempt.objects.filter(pk=remote.attempt_id).update(worker="w1@some-other-host", pid=dead_pid())

    assert recover.recover_orphan(alive.task_id, f"w1@{claiming.HOST}") is False  # its process lives (it is us)
    assert recover.recover_orphan(remote.task_id, "w1@some-other-host") is False  # another host's pid
    assert recover.recover_orphans_of(f"w1@{claiming.HOST}") == 0

    assert Task.objects.filter(pk__in=[alive.task_id, remote.task_id], status="running").count() == 2
