"""Stuck detection when the last runnable task of a job succeeds through the single-statement fast path."""

from __future__ import annotations

import pytest

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"  # no worker consumes it: the test runs the tasks itself


def test_stuck__found_when_the_last_runnable_task_succeeds() -> None:
    job = service.submit_job({"tasks": [
        {"key": "work", "skill": "t.noop", "queue": INPROC},
        {"key": "stall", "skill": "t.blocked", "queue": INPROC},
        {"key": "after", "skill": "t.noop", "depends_on": ["stall"], "queue": INPROC},
    ]})
    tasks = {t.key: t for t in Task.objects.filter(job=job)}

    execute(tasks["stall"].pk, 0)  # blocks (no needs) while "work" is still queued: not stuck yet
    job.refresh_from_db()
    assert job.status == "running"

    execute(tasks["work"].pk, 0)  # no dependents, no parent: recorded by the fast path
    job = Job.objects.get(pk=job.pk)
    assert job.status == "stopped"
    assert job.stop_reason == "stuck: nothing is runnable or running; blocked: 'stall' (waiting for approval)"
