"""Retention: finished jobs past WEFT_RETENTION go with every row they own, in batches; nothing else does."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from weft_django import service, sweep
from weft_django.checks import check_retention
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.models import Artifact, Attempt, Decision, Dependency, Job, Task
from weft_django.outcomes import Observation, Outcome

pytestmark = pytest.mark.django_db


def finished_job(status: str, days_ago: float) -> int:
    """A two-task DAG run to its end (attempts, decisions, an artifact, an edge), finished ``days_ago``."""
    add = {"skill": "t.add", "params": {"a": 1, "b": 2}}
    job = service.submit_job({"tasks": [{"key": "a", **add}, {"key": "b", **add, "depends_on": ["a"]}]})
    for key in "ab":
        c = claiming.claim(Task.objects.get(job=job, key=key).pk, 0)
        assert c is not None
        report.record(c, Observation(Outcome.success(3, artifacts={"log": key})))
    Job.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now() - timedelta(days=days_ago))
    return job.pk


def rows_of(job_id: int) -> dict[str, int]:
    return {"tasks": Task.objects.filter(job_id=job_id).count(),
            "attempts": Attempt.objects.filter(job_id=job_id).count(),
            "decisions": Decision.objects.filter(job_id=job_id).count(),
            "artifacts": Artifact.objects.filter(job_id=job_id).count(),
            "edges": Dependency.objects.filter(downstream__job_id=job_id).count()}


def test_prune_deletes_expired_jobs_whole_and_keeps_the_rest(settings: Any) -> None:
    old_ok, new_ok, old_failed, newer_failed = (finished_job("succeeded", 40), finished_job("succeeded", 5),
                                                finished_job("failed", 40), finished_job("failed", 5))
    running = service.submit("t.noop").pk
    kept = {pk: rows_of(pk) for pk in (new_ok, old_failed, newer_failed, running)}
    assert rows_of(old_ok) == {"tasks": 2, "attempts": 2, "decisions": 3, "artifacts": 2, "edges": 1}
    settings.WEFT_RETENTION = {"succeeded": 30, "failed": 60}
    assert service.prune(dry_run=True) == {"jobs": 1, "tasks": 2}
    counts = service.prune()
    assert counts == {"decision": 3, "artifact": 2, "iteration": 0, "llmcall": 0, "attempt": 2, "dependency": 1,
                      "task": 2, "job": 1}
    assert not Job.objects.filter(pk=old_ok).exists()
    assert rows_of(old_ok) == dict.fromkeys(kept[new_ok], 0)
    assert {pk: rows_of(pk) for pk in kept} == kept  # a running job, and finished ones within retention, stay
    assert service.prune() == {}  # nothing left to do


def test_prune_works_in_batches_of_whole_jobs(settings: Any) -> None:
    jobs = [finished_job("succeeded", 40) for _ in range(3)]
    settings.WEFT_RETENTION = {"succeeded": 1}
    settings.WEFT_PRUNE_BATCH = 3  # 2 tasks a job: one job a batch (a job is never split)
    assert service.prune(max_batches=1)["job"] == 1
    assert Job.objects.filter(pk__in=jobs).count() == 2
    assert sweep.sweep()["pruned_jobs"] == 1  # the sweep does one batch per run
    assert service.prune()["job"] == 1
    assert not Job.objects.filter(pk__in=jobs).exists()


def test_without_retention_nothing_is_pruned_and_the_command_says_so(settings: Any) -> None:
    finished_job("succeeded", 4000)
    out = StringIO()
    call_command("weft_prune", stdout=out)
    assert out.getvalue().strip() == "nothing to prune: WEFT_RETENTION is not set, every job is kept"
    settings.WEFT_RETENTION = {"succeeded": 1}
    out = StringIO()
    call_command("weft_prune", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "would delete: 1 jobs, 2 tasks"
    assert Job.objects.count() == 1


@pytest.mark.parametrize("value,needle", [
    ({"running": 3}, "WEFT_RETENTION.running: is not a final job status"),
    ({"succeeded": -1}, "WEFT_RETENTION.succeeded: must be a number of days"),
    ({"failed": "30"}, "WEFT_RETENTION.failed: must be a number of days"),
    ([30], "WEFT_RETENTION: must be a dict"),
])
def test_a_bad_retention_is_reported_by_the_check(value: Any, needle: str, settings: Any) -> None:
    settings.WEFT_RETENTION = value
    [error] = check_retention()
    assert error.id == "weft.E055" and needle in error.msg
