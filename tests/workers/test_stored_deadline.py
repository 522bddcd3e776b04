"""Issue 10, the stored denial of service: a job whose deadline lies in the year 10000 (UTC), as a submission
once wrote it (``9999-12-31T23:00:00-12:00`` answered 400 after the job was written).

Submissions now refuse it (tests/db/test_api_input.py); a row written before that must still not break
the pages, the commands and the worker that read it. On PostgreSQL it is read back clamped inside
Python's range (``ReadableDateTimeField``): before, every one of these failed with a DataError.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client
from pytest_django import Settings

from tests.conftest import WorkerProcess
from tests.db.test_api import API, client_for, user
from weft_django import service, sweep
from weft_django.execution.runner import execute
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db

YEAR_10000 = "9999-12-31T23:00:00-12:00"
READ_AS = "9999-12-30T00:00:00Z"  # ReadableDateTimeField.LATEST, as DRF writes it


@pytest.fixture
def alice() -> User:
    return user("alice")


@pytest.fixture
def bad_job(alice: User) -> Job:
    """A job of alice's whose deadline the database holds as the year 10000 in UTC."""
    job = service.submit_job({"budget": {"deadline": 3600}, "tasks": [
        {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}, "queue": "weft-inprocess-tests"}]}, owner=alice)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE weft_job SET deadline = %s::timestamptz WHERE id = %s", [YEAR_10000, job.pk])
        cursor.execute("SELECT deadline > '9999-12-31T23:59:59+00'::timestamptz FROM weft_job WHERE id = %s",
                       [job.pk])
        assert cursor.fetchone() == (True,)  # what PostgreSQL holds: beyond any Python datetime
    return job


def test_stored_deadline__the_api_lists_and_shows_the_job(alice: User, bad_job: Job) -> None:
    c = client_for(alice)
    r = c.get(f"{API}/jobs/")
    assert r.status_code == 200, r.content
    assert [(j["id"], j["deadline"]) for j in r.json()["results"]] == [(bad_job.pk, READ_AS)]
    for path in (f"jobs/{bad_job.pk}/", f"jobs/{bad_job.pk}/status/", f"jobs/{bad_job.pk}/tasks/",
                 f"jobs/{bad_job.pk}/results/", f"jobs/{bad_job.pk}/explain/"):
        assert c.get(f"{API}/{path}").status_code == 200, path
    assert c.post(f"{API}/jobs/{bad_job.pk}/cancel/").json() == {"cancelled": True}


def test_stored_deadline__the_staff_list_and_the_admin_render(bad_job: Job, client: Client) -> None:
    staff = User.objects.create_superuser("ops", "ops@example.com", "pw")
    assert client_for(staff).get(f"{API}/jobs/").status_code == 200
    client.force_login(staff)
    task = Task.objects.get(job=bad_job)
    for url in ("/admin/weft/job/", f"/admin/weft/job/{bad_job.pk}/change/", "/admin/weft/task/",
                f"/admin/weft/task/{task.pk}/change/"):
        assert client.get(url).status_code == 200, url


def test_stored_deadline__the_commands_read_and_cancel_it(bad_job: Job) -> None:
    for argv in (["weft_status", str(bad_job.pk)], ["weft_list"], ["weft_explain", str(bad_job.pk)],
                 ["weft_cancel", str(bad_job.pk)]):
        call_command(*argv, stdout=io.StringIO(), stderr=io.StringIO())
    assert Job.objects.get(pk=bad_job.pk).status == "cancelled"


def test_stored_deadline__a_worker_claims_and_runs_its_task(bad_job: Job, settings: Settings) -> None:
    settings.WEFT_LEASE_SECONDS = 3  # how long a claim that fails on the database is retried
    task = Task.objects.get(job=bad_job)
    execute(task.pk, 0)
    task.refresh_from_db()
    assert (task.status, task.result) == ("succeeded", 3)
    sweep.sweep()  # the deadline step compares the stored value: far ahead, nothing to stop
    assert Job.objects.get(pk=bad_job.pk).status == "succeeded"


def test_stored_deadline__a_rerun_is_refused_not_crashed(alice: User, bad_job: Job) -> None:
    r = client_for(alice).post(f"{API}/jobs/{bad_job.pk}/rerun/")
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "budget.deadline"
    assert Job.objects.count() == 1


def test_stored_deadline__nothing_else_is_clamped(bad_job: Any) -> None:
    assert Job.objects.filter(deadline__isnull=True).count() == 0
    job = service.submit("t.noop")
    assert Job.objects.values_list("deadline", flat=True).get(pk=job.pk) is None  # NULL stays NULL


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_stored_deadline__a_real_worker_claims_and_runs_its_task(
        worker_factory: Callable[..., WorkerProcess]) -> None:
    # A worker of its own, as tests/workers/test_api_worker.py: tests/api runs before tests/faults
    worker_factory()
    with transaction.atomic():  # the message is sent when this commits, with the bad deadline in place
        job = service.submit_job({"budget": {"deadline": 3600}, "tasks": [
            {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}}]})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE weft_job SET deadline = %s::timestamptz WHERE id = %s", [YEAR_10000, job.pk])
    assert service.result(job.pk, timeout=60) == 3
