"""A chunk of tasks claimed in one statement and its successes recorded in one (lifecycle/batch.py): the same
rows as claiming and recording each singly, and the same guards task by task.

Tests run inside the ``db`` fixture's transaction: nothing reaches the broker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now
from pytest_django import Settings

from weft_django import service, transitions
from weft_django.lifecycle import batch, report
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle.claim import Claimed
from weft_django.models import Attempt, Decision, Job, Task
from weft_django.outcomes import Observation, Outcome
from weft_django.states import AttemptOutcome, JobStatus, TaskStatus
from weft_django.storable import storable

pytestmark = pytest.mark.django_db

KEYS = "abcde"


def fan_out(n: int = len(KEYS)) -> list[int]:
    job = service.submit_job({"name": "fan", "tasks": [
        {"key": k, "skill": "t.add", "params": {"a": i, "b": 1}} for i, k in enumerate(KEYS[:n])]})
    return list(Task.objects.filter(job=job).order_by("pk").values_list("pk", flat=True))


def success(c: Claimed) -> Observation:
    """Made storable, as the chunk keeps it (execution/chunk.py) and report.record does."""
    return storable(Observation(Outcome.success({"v": c.key}), duration=0.25, stdout="o\x00k", exit_code=0,
                                peak_rss_mb=None, cpu_seconds=0.5, peak_open_files=7), None)


def _rows(job_id: int) -> dict[str, Any]:
    skip = {"id", "job", "task", "attempt", "created_at", "started_at", "finished_at", "dispatched_at", "pid",
            "celery_id"}

    def rows(qs: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k.split("_id")[0] not in skip and k not in skip} for r in qs.values()]

    return {"job": rows(Job.objects.filter(pk=job_id)),
            "tasks": rows(Task.objects.filter(job_id=job_id).order_by("key")),
            "attempts": rows(Attempt.objects.filter(job_id=job_id).order_by("task__key")),
            "decisions": rows(Decision.objects.filter(job_id=job_id).order_by("pk"))}


def _run(together: bool) -> dict[str, Any]:
    ids = fan_out()
    if together:
        claimed = batch.claim_many([(pk, 0) for pk in reversed(ids)], worker="w@h", pid=1, celery_id="c1")
        assert sorted(claimed) == ids
        done = [(c, success(c)) for c in claimed.values()]
        assert batch.succeed_many(done) == set(ids)
    else:
        for pk in ids:
            c = claiming.claim(pk, 0, worker="w@h", celery_id="c1")
            assert c is not None
            report.record(c, success(c))
    return _rows(Task.objects.get(pk=ids[0]).job_id)


def test_claim_many_and_succeed_many__leave_the_same_rows_as_one_by_one(settings: Settings) -> None:
    settings.WEFT_FAST_PATH = True
    together = _run(True)
    settings.WEFT_FAST_PATH = False
    orm = _run(False)
    assert together == orm
    assert together["job"][0]["status"] == "succeeded" and together["job"][0]["tasks_open"] == 0
    assert [d["action"] for d in together["decisions"]] == ["succeed"] * len(KEYS) + ["finish_job"]
    assert {a["stdout"] for a in together["attempts"]} == {"o\ufffdk"}


def test_claim_many__each_task_its_own_token_lease_and_attempt() -> None:
    ids = fan_out()
    claimed = batch.claim_many([(pk, 0) for pk in ids], worker="w@h", pid=42, celery_id="c9")
    assert [(c.task_id, c.token, c.skill_name) for c in claimed.values()] == [(pk, 1, "t.add") for pk in ids]
    for c in claimed.values():
        task = Task.objects.get(pk=c.task_id)
        assert (task.status, task.attempts, task.worker) == (TaskStatus.RUNNING, 1, "w@h")
        assert task.lease_expires_at is not None
        attempt = Attempt.objects.get(pk=c.attempt_id)
        assert (attempt.task_id, attempt.number, attempt.outcome, attempt.pid, attempt.celery_id) == (
            c.task_id, 1, AttemptOutcome.RUNNING, 42, "c9")
    assert Attempt.objects.count() == len(ids)


def test_claim_many__skips_what_a_single_claim_would_not_claim() -> None:
    fresh, stale, taken, cancelled, held = fan_out()
    assert claiming.claim(taken, 0) is not None  # already claimed by another message
    transitions.cancel_idle([cancelled], "cancelled")
    gated = Task.objects.get(pk=service.submit("t.limited").tasks.get().pk)  # a concurrency limit: admission.py
    assert gated.governed
    claimed = batch.claim_many([(fresh, 0), (stale, 7), (taken, 0), (cancelled, 0), (gated.pk, 0)],
                               worker="w", pid=1, celery_id="")
    assert list(claimed) == [fresh]
    assert Task.objects.get(pk=stale).status == TaskStatus.QUEUED and Task.objects.get(pk=held).attempts == 0
    assert Task.objects.get(pk=gated.pk).status == TaskStatus.QUEUED
    assert Attempt.objects.filter(task_id__in=[stale, cancelled, gated.pk]).count() == 0


@pytest.mark.parametrize("budget", [{"max_attempts": 10}, {"max_tokens": 1000}])
def test_claim_many__a_job_with_an_attempt_or_token_budget_or_no_statement_is_claimed_singly(
        settings: Settings, budget: dict[str, int]) -> None:
    job = service.submit_job({"budget": budget, "tasks": [{"key": "a", "skill": "t.add", "params": {"a": 1, "b": 1}}]})
    task = Task.objects.get(job=job)
    assert batch.claim_many([(task.pk, 0)], worker="w", pid=1, celery_id="") == {}
    assert claiming.claim(task.pk, 0) is not None  # the single claim takes it (and checks the budget)
    settings.WEFT_FAST_PATH = False  # no statement (SQLite, or the fast path off): every task singly
    [pk, *_] = fan_out()
    assert batch.claim_many([(pk, 0)], worker="w", pid=1, celery_id="") == {}
    assert Task.objects.get(pk=pk).status == TaskStatus.QUEUED


def test_succeed_many__a_fenced_out_success_is_not_applied_the_others_are() -> None:
    ids = fan_out(3)
    claimed = batch.claim_many([(pk, 0) for pk in ids], worker="w", pid=1, celery_id="")
    lost = claimed[ids[1]]
    Task.objects.filter(pk=lost.task_id).update(lease_expires_at=Now() - timedelta(seconds=1))
    assert transitions.recover(lost.task_id, lost.token, delay=0, error="lease expired")
    current = claiming.claim(lost.task_id, lost.token)  # another worker holds it now, under the next token
    assert current is not None
    assert batch.succeed_many([(c, success(c)) for c in claimed.values()]) == {ids[0], ids[2]}
    assert Task.objects.filter(pk=ids[1]).values_list("status", "attempts", "result").get() == (
        TaskStatus.RUNNING, 2, None)
    assert Attempt.objects.get(pk=lost.attempt_id).outcome == AttemptOutcome.RUNNING  # the caller records it singly
    job = Job.objects.get(pk=lost.job_id)
    assert (job.status, job.tasks_open) == (JobStatus.RUNNING, 1)
    assert not Decision.objects.filter(job=job, action="finish_job").exists()
    report.record(lost, success(lost))  # the single path: a late result, discarded
    assert Attempt.objects.get(pk=lost.attempt_id).outcome == AttemptOutcome.DISCARDED
    assert batch.succeed_many([(current, success(current))]) == {ids[1]}
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


def test_renew_leases__renews_the_held_ones_and_names_them() -> None:
    ids = fan_out(3)
    claimed = batch.claim_many([(pk, 0) for pk in ids], worker="w", pid=1, celery_id="")
    Task.objects.filter(pk__in=ids).update(lease_expires_at=Now())
    transitions.request_cancel([ids[2]])
    held = transitions.renew_leases([(ids[0], 1), (ids[1], 5), (ids[2], 1)], 60)
    assert held == {ids[0]}
    leases = {pk: at.timestamp() if at else 0.0
              for pk, at in Task.objects.filter(pk__in=ids).values_list("pk", "lease_expires_at")}
    assert leases[ids[0]] > leases[ids[1]] == leases[ids[2]] > 0
    assert len(claimed) == 3
