"""The backend of Django's Tasks framework without a worker: what enqueue writes (queue, priority, options,
run_after), what it refuses (and where the framework says so), and results of jobs that are not its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from tests.testapp import tasks
from weft_django import service
from weft_django.backends import WeftBackend, weft_options
from weft_django.backends.compat import (
    InvalidTask,
    InvalidTaskBackend,
    TaskResultDoesNotExist,
    TaskResultStatus,
    task_backends,
)
from weft_django.exceptions import InvalidInput
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db(transaction=True)


def task_of(result: Any) -> Task:
    return Task.objects.get(job_id=int(result.id))


def test_backend__flags_say_what_it_supports() -> None:
    backend = task_backends["default"]
    assert isinstance(backend, WeftBackend)
    assert (backend.supports_defer, backend.supports_async_task, backend.supports_get_result,
            backend.supports_priority) == (True, True, True, True)


def test_backend__queue_priority_and_run_after_reach_the_row() -> None:
    row = task_of(tasks.urgent.enqueue())
    assert (row.queue, row.priority, row.status) == ("weft-other", 0, "queued")
    assert task_of(tasks.add.enqueue(1, 2)).queue == "weft"  # the framework's "default": WEFT_DEFAULT_QUEUE
    assert task_of(tasks.add.using(priority=-100).enqueue(1, 2)).priority == 9
    assert task_of(tasks.add.enqueue(1, 2)).priority == 5  # the framework's default: weft's

    when = datetime.now(UTC) + timedelta(hours=1)
    result = tasks.add.using(run_after=when).enqueue(1, 2)
    row = task_of(result)
    assert (row.not_before, row.dispatched_at, row.status) == (when, when, "queued")
    assert tasks.add.get_result(result.id).status == TaskResultStatus.READY


def test_backend__weft_options_and_budget_reach_the_job() -> None:
    row = task_of(tasks.refuse.enqueue("x"))
    assert (row.retry["max_attempts"], row.retry["backoff"], row.timeout) == (2, 0.05, 60)
    with override_settings(TASKS={"default": {"BACKEND": "weft_django.backends.WeftBackend",
                                              "QUEUES": ["default", "weft-other"],
                                              "OPTIONS": {"budget": {"max_attempts": 7}, "timeout": 5}}}):
        job = Job.objects.get(pk=int(tasks.add.enqueue(1, 2).id))
        assert job.max_attempts == 7 and job.tasks.get().timeout == 5


def test_backend__refuses_what_it_cannot_do_naming_it() -> None:
    with pytest.raises(InvalidTask, match="args: must be JSON"):
        tasks.echo.enqueue(object())
    with pytest.raises(InvalidTask, match="Queue 'elsewhere' is not valid"):
        tasks.add.using(queue_name="elsewhere")
    with pytest.raises(InvalidInput, match=r"weft_options.retries: unknown weft option"):
        weft_options(retries=3)
    with pytest.raises(InvalidInput, match=r"weft_options.timeout"):
        weft_options(timeout=-1)
    with pytest.raises(InvalidTaskBackend, match="unknown weft option"):
        WeftBackend("x", {"BACKEND": "weft_django.backends.WeftBackend", "OPTIONS": {"priority": 1}})
    with pytest.raises(InvalidTaskBackend, match="unknown key 'ENQUEUE_ON_COMMIT'"):
        WeftBackend("x", {"BACKEND": "weft_django.backends.WeftBackend", "ENQUEUE_ON_COMMIT": False})
    assert not Job.objects.exists()


def test_backend__results_of_other_jobs_do_not_exist() -> None:
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result("123456789")
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result("not a number")
    job = service.submit("t.add", {"a": 1, "b": 2})  # a weft skill, not a framework task
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_result(str(job.pk))


def test_backend__enqueue_sends_task_enqueued() -> None:
    tasks.signal_log().unlink(missing_ok=True)  # ids start again with each test database
    result = tasks.add.enqueue(1, 2)
    [line] = [json.loads(s) for s in tasks.signal_log().read_text().splitlines()]
    assert (line["signal"], line["status"], line["id"]) == ("task_enqueued", "READY", result.id)
