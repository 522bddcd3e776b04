"""Two versions of one skill run side by side on a real worker: each task runs the version it was submitted
with (tests/db/test_skill_versions.py has the choice itself)."""

from __future__ import annotations

import pytest

from tests.conftest import WorkerProcess
from weft_django import service
from weft_django.models import Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_versions_run_side_by_side_in_one_job(worker: WorkerProcess) -> None:
    job = service.submit_job({"tasks": [
        {"key": "old", "skill": "t.greet@1", "params": {"who": "a"}},
        {"key": "new", "skill": "t.greet", "params": {"who": "b"}},
        {"key": "pinned", "skill": "t.greet", "version": "2", "params": {"who": "c"}},
    ]})
    assert service.result(job.pk, timeout=30) == {"old": "hello a (v1)", "new": "hello b (v2)",
                                                   "pinned": "hello c (v2)"}
    assert dict(Task.objects.filter(job=job).values_list("key", "skill_version")) == {
        "old": "1", "new": "2", "pinned": "2"}
