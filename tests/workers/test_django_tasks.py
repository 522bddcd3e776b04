"""Django's Tasks framework on weft, as the framework's documentation describes it, against real workers and
PostgreSQL: enqueue, get_result and refresh, return values, errors with their exception class and traceback,
attempts, the context, run_after, async functions and the three signals. Asserted from the rows too."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from tests.conftest import WorkerProcess, wait_for
from tests.testapp import tasks
from weft_django.backends.compat import TaskResult, TaskResultStatus
from weft_django.models import Attempt, Job, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISH = 30.0


def finished(result: TaskResult) -> TaskResult:
    """Refresh until the framework says it finished (the documented way to wait: poll ``refresh``)."""
    def done() -> bool:
        result.refresh()
        return bool(result.is_finished)

    wait_for(done, FINISH, 0.1, f"task result {result.id}")
    return result


def signals_of(result_id: str) -> list[dict[str, Any]]:
    path = tasks.signal_log()
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in map(json.loads, lines) if line["id"] == result_id]


def test_django_tasks__enqueue_runs_on_a_worker_and_get_result_maps_the_rows(worker: WorkerProcess) -> None:
    result = tasks.add.enqueue(2, b=3)
    assert result.status == TaskResultStatus.READY and result.attempts == 0 and result.errors == []
    assert (result.args, result.kwargs, result.backend) == ([2], {"b": 3}, "default")
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value

    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 5
    assert result.attempts == 1 and result.worker_ids[0].startswith(f"{worker.name}@")
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at <= result.finished_at
    again = tasks.add.get_result(result.id)  # any process, by id: the rows are the store
    assert (again.status, again.return_value, again.worker_ids) == (result.status, 5, result.worker_ids)

    job = Job.objects.get(pk=int(result.id))
    task = Task.objects.get(job=job)
    assert (job.status, task.skill_name, task.params) == ("succeeded", tasks.add.module_path,
                                                         {"args": [2], "kwargs": {"b": 3}})
    assert task.timeout == 60  # the backend's OPTIONS
    assert Attempt.objects.filter(task=task, outcome="succeeded").count() == 1


def test_django_tasks__an_exception_is_an_error_with_its_class_and_traceback(worker: WorkerProcess) -> None:
    result = finished(tasks.refuse.enqueue("no thanks"))

    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 2  # @weft_options(retry={"max_attempts": 2})
    assert [e.exception_class for e in result.errors] == [tasks.Refused, tasks.Refused]
    assert "raise Refused(reason)" in result.errors[-1].traceback
    assert "no thanks" in result.errors[-1].traceback
    with pytest.raises(ValueError, match="failed"):
        _ = result.return_value
    assert list(Attempt.objects.filter(job_id=int(result.id)).values_list("outcome", flat=True)) == ["failed"] * 2


def test_django_tasks__the_context_counts_weft_attempts(worker: WorkerProcess) -> None:
    result = finished(tasks.flaky.enqueue(succeed_on=3))

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"attempt": 3, "id": result.id}
    assert result.attempts == 3 and len(result.errors) == 2
    assert {e.exception_class for e in result.errors} == {ConnectionError}


def test_django_tasks__run_after_holds_the_task_until_then(worker: WorkerProcess) -> None:
    run_after = timezone.now() + timedelta(seconds=3)
    result = tasks.add.using(run_after=run_after).enqueue(1, 1)

    time.sleep(1.5)
    result.refresh()
    assert result.status == TaskResultStatus.READY and result.attempts == 0
    finished(result)
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.started_at >= run_after


def test_django_tasks__async_function_and_async_api(worker: WorkerProcess) -> None:
    result = async_to_sync(tasks.async_add.aenqueue)(20, 22)
    finished(result)
    fetched = async_to_sync(tasks.async_add.aget_result)(result.id)
    assert (fetched.status, fetched.return_value) == (TaskResultStatus.SUCCESSFUL, 42)


def test_django_tasks__signals_enqueued_here_started_and_finished_in_the_worker(worker: WorkerProcess) -> None:
    tasks.signal_log().unlink(missing_ok=True)  # ids start again with each test database
    ok = finished(tasks.add.enqueue(1, 2))
    failed = finished(tasks.refuse.enqueue("never"))

    def seen(result_id: str, count: int) -> list[dict[str, Any]]:
        return wait_for(lambda: len(signals_of(result_id)) >= count and signals_of(result_id), 10, 0.1)

    got = seen(ok.id, 3)
    assert [(s["signal"], s["status"]) for s in got] == [
        ("task_enqueued", "READY"), ("task_started", "RUNNING"), ("task_finished", "SUCCESSFUL")]
    assert got[1]["pid"] != got[0]["pid"] and got[1]["attempts"] == 1  # started in the worker, by its attempt
    assert {s["sender"] for s in got} == {"weft_django.backends.backend.WeftBackend"}
    # one task_started per attempt, one task_finished once the task is final (not after the retried attempt)
    assert [(s["signal"], s["status"]) for s in seen(failed.id, 4)] == [
        ("task_enqueued", "READY"), ("task_started", "RUNNING"), ("task_started", "RUNNING"),
        ("task_finished", "FAILED")]
