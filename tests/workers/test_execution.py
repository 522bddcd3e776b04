"""Tasks run by a real Celery worker subprocess on PostgreSQL and Redis, asserted from the rows they leave."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import psutil
import pytest

from tests.conftest import WorkerProcess, broker_backlog, purge_broker, wait_for
from weft_django import service
from weft_django.dispatch import EXECUTE, celery_app
from weft_django.models import Attempt, Decision, Job, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISH = 30.0  # seconds a short job may take on a loaded 2-core machine


def only_task(job: Job) -> Task:
    return Task.objects.get(job=job)


def attempts_of(task: Task) -> list[Attempt]:
    return list(Attempt.objects.filter(task=task).order_by("number"))


def task_decisions(task: Task) -> list[Decision]:
    """The decisions about the task's attempts (the job-level ``finish_job`` one is left out)."""
    return list(Decision.objects.filter(task=task).exclude(action="finish_job").order_by("pk"))


def test_execution__python_skill_succeeds(worker: WorkerProcess) -> None:
    job = service.submit("t.add", {"a": 2, "b": 3})

    assert service.result(job.pk, timeout=FINISH) == 5
    task = only_task(job)
    assert (task.status, task.result, task.attempts) == ("succeeded", 5, 1)
    [attempt] = attempts_of(task)
    assert attempt.outcome == "succeeded"
    assert attempt.number == 1
    assert attempt.result is None  # stored once: on the task (an attempt keeps only a discarded result)
    assert attempt.worker.startswith(f"{worker.name}@")
    assert attempt.pid in worker.pool_pids()  # ran in a pool process of the worker we started
    assert attempt.duration is not None and 0 < attempt.duration < FINISH
    assert attempt.finished_at is not None and attempt.finished_at >= attempt.started_at
    assert [(d.action, d.reason) for d in task_decisions(task)] == [("succeed", "attempt 1 succeeded")]
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert job.finished_at is not None


def test_execution__command_skill_captures_stdout(worker: WorkerProcess) -> None:
    job = service.submit("t.echo", {"text": "hello weft; $HOME `id`"})

    assert service.result(job.pk, timeout=FINISH) == {"exit_code": 0, "stdout": "hello weft; $HOME `id`\n"}
    [attempt] = attempts_of(only_task(job))
    assert attempt.outcome == "succeeded"
    assert attempt.exit_code == 0
    assert attempt.stdout == "hello weft; $HOME `id`\n"  # one argv element, never a shell
    assert attempt.stderr == ""
    assert attempt.duration is not None and attempt.duration > 0


def test_execution__what_a_command_leaves_behind_ends_with_it(worker: WorkerProcess) -> None:
    """Issue 10: a daemon the command started (setsid, its parent gone) is killed by the supervisor."""
    job = service.submit("t.daemon")
    result = service.result(job.pk, timeout=FINISH)
    daemon = int(result["stdout"])
    assert not psutil.pid_exists(daemon) or psutil.Process(daemon).status() == psutil.STATUS_ZOMBIE


def test_execution__a_program_that_cannot_start_fails_without_retry(worker: WorkerProcess) -> None:
    job = service.submit("t.missing")
    task = only_task(job)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="failed").exists(), FINISH, 0.1, "the failure")
    [attempt] = attempts_of(task)
    assert (attempt.outcome, attempt.error_type) == ("failed", "FileNotFoundError")
    assert attempt.error_message == "cannot start 'weft-no-such-program': No such file or directory"


def test_execution__an_orphan_counts_against_the_memory_limit(worker: WorkerProcess) -> None:
    """Issue 10: a process whose parent exited is re-parented to the supervisor, and still measured."""
    job = service.submit("t.orphan_hog")  # memory_mb 150; the orphan holds 400 MB; its grandparent sleeps
    task = only_task(job)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="failed").exists(), FINISH, 0.1, "the kill")
    [attempt] = attempts_of(task)
    assert (attempt.outcome, attempt.limit_hit) == ("killed", "memory_mb")
    assert attempt.peak_rss_mb is not None and attempt.peak_rss_mb > 150


def test_execution__a_param_that_would_be_an_option_is_refused_at_submission() -> None:
    """Issue 10: ``echo {text}`` with text="--output=out.txt" would hand the program an option."""
    from django.contrib.auth.models import Permission, User
    from rest_framework.test import APIClient

    from weft_django.exceptions import InvalidInput

    before = (Job.objects.count(), Task.objects.count())
    with pytest.raises(InvalidInput) as info:
        service.submit("t.echo", {"text": "--output=out.txt"})
    assert info.value.field == "params.text" and "must not start with '-'" in str(info.value)

    u = User.objects.create_user("opt-user", password="pw")
    u.user_permissions.add(Permission.objects.get(content_type__app_label="weft", codename="run_skill"))
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=u.pk))
    r = client.post("/api/weft/jobs/", {"skill": "t.echo", "params": {"text": "-n"}}, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "params.text"
    assert (Job.objects.count(), Task.objects.count()) == before  # nothing written
    job = service.submit("t.echo", {"text": "a-n"})  # a "-" inside a value is no option
    assert Task.objects.get(job=job).params == {"text": "a-n"}


def test_execution__flaky_skill_succeeds_on_third_attempt(worker: WorkerProcess) -> None:
    job = service.submit("t.flaky", {"succeed_on": 3})

    assert service.result(job.pk, timeout=FINISH) == 3
    task = only_task(job)
    attempts = attempts_of(task)
    assert [(a.number, a.outcome) for a in attempts] == [(1, "failed"), (2, "failed"), (3, "succeeded")]
    for a in attempts[:2]:
        assert a.error_type == "ConnectionError"
        assert a.error_message == f"attempt {a.number} failed on purpose"
        assert "ConnectionError" in a.traceback
    decisions = task_decisions(task)
    assert [d.action for d in decisions] == ["retry", "retry", "succeed"]
    assert [d.attempt_id for d in decisions] == [a.pk for a in attempts]
    for n, d in enumerate(decisions[:2], start=1):
        assert re.fullmatch(rf"attempt {n} of 5 failed with ConnectionError; retrying in \d+\.\d s", d.reason), d.reason
        assert d.policy == "retry.backoff"
        assert d.observation["attempt"] == n
        assert d.observation["max_attempts"] == 5
        assert 0 <= d.observation["delay"] <= 1.0
    job.refresh_from_db()
    assert job.status == "succeeded"


def test_execution__always_failing_skill_stops_at_max_attempts(worker: WorkerProcess) -> None:
    job = service.submit("t.always_fails")

    with pytest.raises(service.JobFailed) as failed:
        service.result(job.pk, timeout=FINISH)
    assert failed.value.status == "failed"
    assert "this skill always fails" in str(failed.value)
    task = only_task(job)
    assert task.status == "failed"
    assert [a.outcome for a in attempts_of(task)] == ["failed"] * 4
    decisions = task_decisions(task)
    assert [d.action for d in decisions] == ["retry", "retry", "retry", "fail"]
    assert decisions[-1].reason == "attempt 4 of 4 failed with ValueError; no attempts left"
    assert decisions[-1].policy == "retry.max_attempts"
    job.refresh_from_db()
    assert job.status == "failed"


def _sleep_processes(argument: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if p.info["cmdline"] == ["sleep", argument]:
            found.append(p)
    return found


def test_execution__timeout_kills_a_long_command(worker: WorkerProcess) -> None:
    seconds = "30.4242"  # a value no other process on this machine sleeps for
    started = time.monotonic()
    job = service.submit("t.sleep_cmd", {"seconds": seconds}, timeout=1, retry={"max_attempts": 1})

    [sleeper] = wait_for(lambda: _sleep_processes(seconds), FINISH, message="the sleep command to start")
    job = service.wait(job.pk, timeout=FINISH)
    elapsed = time.monotonic() - started

    assert elapsed < 15, f"the timeout did not stop the command early: {elapsed:.1f} s"
    assert not sleeper.is_running()
    assert _sleep_processes(seconds) == []
    assert job.status == "failed"
    task = only_task(job)
    [attempt] = attempts_of(task)
    assert attempt.outcome == "timed_out"
    assert attempt.error_type == "Timeout"
    assert attempt.error_message == "timed out after 1 s"
    assert attempt.exit_code == -9  # SIGKILL
    assert attempt.duration is not None and 1 <= attempt.duration < 10
    [decision] = task_decisions(task)
    assert decision.action == "fail"
    assert decision.reason == "attempt 1 of 1 timed out; no attempts left"


def test_execution__timeout_interrupts_a_python_skill(worker: WorkerProcess) -> None:
    started = time.monotonic()
    job = service.submit("t.sleep", {"seconds": 30}, timeout=1, retry={"max_attempts": 1})

    job = service.wait(job.pk, timeout=FINISH)
    assert time.monotonic() - started < 15
    assert job.status == "failed"
    [attempt] = attempts_of(only_task(job))
    assert attempt.outcome == "timed_out"
    assert attempt.error_message == "timed out after 1 s"
    assert attempt.duration is not None and 1 <= attempt.duration < 10
    assert attempt.pid in worker.pool_pids()  # interrupted, not killed: the pool process lives on


def test_execution__priority_zero_runs_before_nine(worker_factory: Callable[..., WorkerProcess]) -> None:
    queue = "weft-priority"  # a queue of its own, which the session's worker does not consume
    purge_broker((queue,))
    # Published while no worker consumes the queue: the broker alone decides the order.
    late = [service.submit("t.sleep", {"seconds": 0.05}, priority=9, queue=queue) for _ in range(5)]
    first = service.submit("t.sleep", {"seconds": 0.05}, priority=0, queue=queue)

    worker_factory(concurrency=1, queues=queue)  # prefetch 1: one message at a time
    for job in [*late, first]:
        service.result(job.pk, timeout=FINISH)
    order = list(Attempt.objects.filter(job__in=[*late, first]).order_by("started_at", "pk")
                 .values_list("job_id", flat=True))
    assert order[0] == first.pk, order
    purge_broker((queue,))


def test_execution__duplicated_message_runs_the_task_once(worker: WorkerProcess) -> None:
    app = celery_app()
    job = service.submit("t.sleep", {"seconds": 0.5})
    task = only_task(job)
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="running").exists(), FINISH,
             message="the task to start running")

    # Two copies while it runs (the second pool process receives them), one after it finished.
    ids = [app.send_task(EXECUTE, args=(task.pk, 0), queue="weft").id for _ in range(2)]
    assert service.result(job.pk, timeout=FINISH) == 0.5
    ids.append(app.send_task(EXECUTE, args=(task.pk, 0), queue="weft").id)

    # Every copy was delivered and handled (celery logs each), and none is left in the broker.
    wait_for(lambda: all(f"[{i}] succeeded" in worker.log_text() for i in ids), FINISH,
             message="the worker to handle every duplicate")
    wait_for(lambda: broker_backlog() == 0, FINISH, message="the broker queue to drain")
    task.refresh_from_db()
    assert (task.status, task.attempts, task.result) == ("succeeded", 1, 0.5)
    [attempt] = attempts_of(task)
    assert attempt.outcome == "succeeded"
    assert [d.action for d in task_decisions(task)] == ["succeed"]


def test_execution__unserialisable_result_fails_without_retry(worker: WorkerProcess) -> None:
    job = service.submit("t.unserialisable")

    with pytest.raises(service.JobFailed, match="must be JSON-serialisable"):
        service.result(job.pk, timeout=FINISH)
    task = only_task(job)
    [attempt] = attempts_of(task)
    assert attempt.outcome == "failed"
    assert attempt.error_type == "NotSerializable"
    assert attempt.error_message == "result: must be JSON-serialisable: Object of type object is not JSON serializable"
    [decision] = task_decisions(task)
    assert decision.action == "fail"
    assert decision.reason.endswith("the error is not retryable")


def test_execution__non_retryable_error_fails_after_one_attempt(worker: WorkerProcess) -> None:
    job = service.submit("t.fatal")

    with pytest.raises(service.JobFailed, match="no point retrying"):
        service.result(job.pk, timeout=FINISH)
    task = only_task(job)
    [attempt] = attempts_of(task)
    assert (attempt.outcome, attempt.error_type, attempt.error_message) == (
        "failed", "NonRetryable", "no point retrying")
    [decision] = task_decisions(task)
    assert (decision.action, decision.policy) == ("fail", "retry.non_retryable")
    assert decision.reason == "attempt 1 of 3 failed with NonRetryable; the error is not retryable"


def test_execution__blocked_outcome_blocks_the_task(worker: WorkerProcess) -> None:
    job = service.submit("t.blocked")

    # Its only task blocked, nothing else can run: the job stops as stuck, naming the blocked task.
    job = service.wait(job.pk, timeout=FINISH)
    assert job.status == "stopped"
    assert job.stop_reason == "stuck: nothing is runnable or running; blocked: 't.blocked' (waiting for approval)"
    task = only_task(job)
    assert (task.status, task.blocked_reason) == ("cancelled", "waiting for approval")
    [attempt] = attempts_of(task)
    assert attempt.outcome == "blocked"
    assert attempt.error_message == "waiting for approval"
    [decision] = task_decisions(task)
    assert (decision.action, decision.reason, decision.policy) == (
        "block", "blocked: waiting for approval", "outcome.blocked")
    assert [(d.action, d.reason) for d in Decision.objects.filter(job=job, task=None)] == [
        ("stop_job", job.stop_reason)]
