"""A loop's iteration is written fenced on its attempt's token, and once per number (lifecycle/ledger.py)."""

from __future__ import annotations

import pytest

from weft_django import service
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import ledger
from weft_django.models import Iteration, Task

pytestmark = pytest.mark.django_db


def fields(number: int, job_id: int, attempt_id: int) -> dict[str, object]:
    return {"number": number, "of": 5, "job_id": job_id, "attempt_id": attempt_id, "summary": "s", "passed": False,
            "validation": "v", "tokens": 1, "cost": 0.0, "result": None}


def test_an_iteration_is_written_once_and_only_under_the_current_lease() -> None:
    job = service.submit("t.noop")
    task = Task.objects.get(job=job)
    first = claiming.claim(task.pk, 0)
    assert first is not None
    assert ledger.write_iteration(task.pk, first.token, **fields(1, job.pk, first.attempt_id)) is True
    assert ledger.write_iteration(task.pk, first.token, **fields(1, job.pk, first.attempt_id)) is False  # twice
    # The lease moves on (the sweep recovered the task and another worker claimed it): the old token writes nothing.
    Task.objects.filter(pk=task.pk).update(status="queued")
    second = claiming.claim(task.pk, first.token)
    assert second is not None
    assert ledger.write_iteration(task.pk, first.token, **fields(2, job.pk, first.attempt_id)) is False
    assert ledger.write_iteration(task.pk, second.token, **fields(2, job.pk, second.attempt_id)) is True
    assert list(Iteration.objects.filter(task=task).values_list("number", "attempt_id")) == [
        (1, first.attempt_id), (2, second.attempt_id)]
