"""Transition guards on PostgreSQL: fencing tokens, forbidden moves, frozen specs, stale reports.

Tests run inside the ``db`` fixture's transaction, so ``on_commit`` never fires: nothing reaches the broker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models.functions import Now
from pytest_django import DjangoAssertNumQueries, Settings

from weft_django import service, transitions
from weft_django.exceptions import InvalidTransition
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.models import Attempt, Decision, Dependency, Job, Task
from weft_django.outcomes import Observation, Outcome
from weft_django.service import submit
from weft_django.states import AttemptOutcome, DecisionAction, JobStatus, TaskStatus

pytestmark = pytest.mark.django_db


def queued_task(skill: str = "t.add", **params: object) -> Task:
    job = submit(skill, params or {"a": 1, "b": 2})
    return Task.objects.get(job=job)


def snapshot(task: Task) -> dict[str, Any]:
    return dict(Task.objects.filter(pk=task.pk).values().get())


def test_claim__queued_task_is_claimed_with_a_new_token_and_attempt() -> None:
    task = queued_task()
    claimed = claiming.claim(task.pk, 0, worker="unit@host", celery_id="c-1")
    assert claimed is not None
    assert (claimed.token, claimed.skill_name, claimed.params) == (1, "t.add", {"a": 1, "b": 2})
    task.refresh_from_db()
    assert (task.status, task.attempts, task.worker) == (TaskStatus.RUNNING, 1, "unit@host")
    assert task.lease_expires_at is not None and task.started_at is not None
    attempt = Attempt.objects.get(pk=claimed.attempt_id)
    assert (attempt.number, attempt.outcome, attempt.celery_id) == (1, AttemptOutcome.RUNNING, "c-1")


def test_claim__wrong_token_claims_nothing() -> None:
    task = queued_task()
    before = snapshot(task)
    assert claiming.claim(task.pk, 7) is None
    assert snapshot(task) == before
    assert not Attempt.objects.exists()


def test_claim__twice_with_the_same_token_second_returns_none() -> None:
    task = queued_task()
    assert claiming.claim(task.pk, 0) is not None
    assert claiming.claim(task.pk, 0) is None  # a duplicated broker message
    assert claiming.claim(task.pk, 1) is None  # the running task is not queued: no token claims it
    assert Attempt.objects.filter(task=task).count() == 1


def test_claim__unknown_task_claims_nothing() -> None:
    assert claiming.claim(987654321, 0) is None


@pytest.mark.parametrize("stale", [0, 2])
def test_fenced_writes__stale_token_returns_false_and_changes_nothing(stale: int) -> None:
    task = queued_task()
    assert claiming.claim(task.pk, 0) is not None  # current token: 1
    before = snapshot(task)
    assert transitions.succeed(task.pk, stale, {"late": True}) is False
    assert transitions.fail(task.pk, stale, "late") is False
    assert transitions.retry(task.pk, stale, 1.0, "late") is False
    assert transitions.block(task.pk, stale, "late") is False
    assert transitions.cancel_running(task.pk, stale, "late") is False
    assert transitions.renew_lease(task.pk, stale, 60) is False
    assert snapshot(task) == before


def test_fenced_writes__current_token_applies() -> None:
    task = queued_task()
    assert claiming.claim(task.pk, 0) is not None
    assert transitions.succeed(task.pk, 1, 3) is True
    task.refresh_from_db()
    assert (task.status, task.result, task.lease_expires_at) == (TaskStatus.SUCCEEDED, 3, None)
    assert transitions.succeed(task.pk, 1, 4) is False  # final: even the right token cannot write twice


def test_queue__from_running_raises_invalid_transition() -> None:
    task = queued_task()
    assert claiming.claim(task.pk, 0) is not None
    with pytest.raises(InvalidTransition, match=rf"task {task.pk}: cannot queue from its current state"):
        transitions.queue(task.pk)
    assert Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING


def test_finish_waiting__from_queued_raises_invalid_transition() -> None:
    task = queued_task()
    with pytest.raises(InvalidTransition):
        transitions.finish_waiting(task.pk, 1)
    with pytest.raises(InvalidTransition):
        transitions.fail_waiting(task.pk, "no")


def test_task_save__changed_spec_field_raises() -> None:
    task = queued_task()
    for field, value in (("params", {"a": 5, "b": 6}), ("skill_name", "t.noop"), ("queue", "other"),
                         ("priority", 0), ("key", "renamed")):
        fresh = Task.objects.get(pk=task.pk)
        setattr(fresh, field, value)
        with pytest.raises(InvalidTransition, match=rf"spec fields are frozen: {field}"):
            fresh.save()
    assert Task.objects.get(pk=task.pk).params == {"a": 1, "b": 2}


def test_task_save__spec_mutated_in_place_raises() -> None:
    fresh = Task.objects.get(pk=queued_task().pk)
    fresh.params["a"] = 99  # same dict object as loaded: a shallow snapshot would miss this
    with pytest.raises(InvalidTransition, match="spec fields are frozen: params"):
        fresh.save()


def test_task_save__changed_state_field_is_saved() -> None:
    task = queued_task()
    fresh = Task.objects.get(pk=task.pk)
    fresh.cancel_requested = True
    fresh.error = "operator note"
    fresh.save()
    fresh.save(update_fields=["error"])
    task.refresh_from_db()
    assert (task.cancel_requested, task.error) == (True, "operator note")


def _lose_lease(task_id: int, token: int) -> None:
    """What the sweep does when a worker goes silent: expire the lease and requeue under the same fence."""
    Task.objects.filter(pk=task_id).update(lease_expires_at=Now() - timedelta(seconds=1))
    assert transitions.recover(task_id, token, delay=0, error="lease expired")


def test_record__stale_claim_keeps_its_result_as_a_discarded_attempt() -> None:
    task = queued_task()
    stale = claiming.claim(task.pk, 0)
    assert stale is not None
    _lose_lease(task.pk, stale.token)
    current = claiming.claim(task.pk, stale.token)
    assert current is not None and current.token == 2

    report.record(stale, Observation(Outcome.success(3), duration=0.5))

    task.refresh_from_db()
    assert (task.status, task.attempts, task.result) == (TaskStatus.RUNNING, 2, None)
    old = Attempt.objects.get(pk=stale.attempt_id)
    assert (old.outcome, old.result, old.duration) == (AttemptOutcome.DISCARDED, 3, 0.5)
    assert Attempt.objects.get(pk=current.attempt_id).outcome == AttemptOutcome.RUNNING
    decision = Decision.objects.get(task=task)
    assert (decision.action, decision.policy, decision.attempt_id) == (
        DecisionAction.DISCARD_STALE, "fencing", stale.attempt_id)
    assert decision.reason == "attempt 1 reported succeeded after losing its lease; result not applied"
    assert decision.observation == {"token": 1}
    assert Job.objects.get(pk=task.job_id).status == JobStatus.RUNNING

    # the current holder still finishes normally
    report.record(current, Observation(Outcome.success(3)))
    task.refresh_from_db()
    assert (task.status, task.result) == (TaskStatus.SUCCEEDED, 3)


def test_record__stale_failure_is_discarded_too() -> None:
    task = queued_task()
    stale = claiming.claim(task.pk, 0)
    assert stale is not None
    _lose_lease(task.pk, stale.token)
    assert claiming.claim(task.pk, stale.token) is not None
    report.record(stale, Observation(Outcome.failure("boom"), "failed", "ValueError"))
    assert Attempt.objects.get(pk=stale.attempt_id).outcome == AttemptOutcome.DISCARDED
    assert list(Decision.objects.filter(task=task).values_list("action", flat=True)) == [
        DecisionAction.DISCARD_STALE]
    assert Task.objects.get(pk=task.pk).status == TaskStatus.RUNNING


def test_record__success_finishes_task_and_job() -> None:
    task = queued_task()
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    report.record(claimed, Observation(Outcome.success(3)))
    job = Job.objects.get(pk=task.job_id)
    assert (job.status, job.tasks_open, job.tasks_failed) == (JobStatus.SUCCEEDED, 0, 0)
    assert list(Decision.objects.filter(job=job).order_by("pk").values_list("action", "reason")) == [
        (DecisionAction.SUCCEED, "attempt 1 succeeded"),  # a one-task job ends with its task: no finish_job
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "ORM path"])
def test_record__a_job_of_two_tasks_gets_one_finish_job_decision_at_its_end(fast: bool, settings: Settings) -> None:
    settings.WEFT_FAST_PATH = fast
    job = service.submit_job({"tasks": [{"key": "x", "skill": "t.add", "params": {"a": 1, "b": 2}},
                                        {"key": "y", "skill": "t.add", "params": {"a": 3, "b": 4}}]})
    for task in Task.objects.filter(job=job).order_by("pk"):
        claimed = claiming.claim(task.pk, 0)
        assert claimed is not None
        report.record(claimed, Observation(Outcome.success(1)))
    assert list(Decision.objects.filter(job=job).order_by("pk").values_list("task__key", "action")) == [
        ("x", DecisionAction.SUCCEED), ("y", DecisionAction.SUCCEED), (None, DecisionAction.FINISH_JOB),
    ]
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


# Query counts document the cost of the hot path. Inside the test's transaction engine's atomic()
# becomes a SAVEPOINT and a RELEASE, counted here; in a worker (autocommit) those two are BEGIN/COMMIT.


def test_claim__query_count(django_assert_num_queries: DjangoAssertNumQueries) -> None:
    task = queued_task()
    # PostgreSQL fast path: one CTE (guarded UPDATE ... RETURNING the spec + INSERT the attempt)
    with django_assert_num_queries(1):
        assert claiming.claim(task.pk, 0) is not None


def test_claim__query_count_orm_path(django_assert_num_queries: DjangoAssertNumQueries,
                                     settings: Settings) -> None:
    settings.WEFT_FAST_PATH = False
    task = queued_task()
    # SAVEPOINT, SELECT the spec, guarded UPDATE, INSERT the attempt, RELEASE
    with django_assert_num_queries(5):
        assert claiming.claim(task.pk, 0) is not None


def test_record__query_count_for_a_successful_single_task_job(
        django_assert_num_queries: DjangoAssertNumQueries) -> None:
    task = queued_task()
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    # PostgreSQL fast path: one CTE (fenced UPDATE task, close attempt, count the job down, both decisions)
    with django_assert_num_queries(1):
        report.record(claimed, Observation(Outcome.success(3)))


def test_record__query_count_orm_path(django_assert_num_queries: DjangoAssertNumQueries,
                                      settings: Settings) -> None:
    settings.WEFT_FAST_PATH = False
    task = queued_task()
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    # SAVEPOINT, UPDATE task (fenced), UPDATE attempt, INSERT decision,
    # UPDATE job counters ... RETURNING (finishes the job; one task, so no finish decision), RELEASE
    with django_assert_num_queries(6):
        report.record(claimed, Observation(Outcome.success(3)))


def _run_lone_task(stdout: str) -> dict[str, Any]:
    job = service.submit("t.add", {"a": 1, "b": 2}, name="same")
    task = Task.objects.get(job_id=job.pk)
    claimed = claiming.claim(task.pk, 0, worker="w@h", celery_id="c1")
    assert claimed is not None
    report.record(claimed, Observation(Outcome.success({"v": 3}), duration=0.5, stdout=stdout, exit_code=0))
    skip = {"id", "job", "task", "attempt", "created_at", "started_at", "finished_at", "dispatched_at", "pid"}

    def rows(qs: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k.split("_id")[0] not in skip and k not in skip} for r in qs.values()]

    return {
        "job": rows(Job.objects.filter(pk=job.pk)),
        "task": rows(Task.objects.filter(pk=task.pk)),
        "attempts": rows(Attempt.objects.filter(task_id=task.pk)),
        "decisions": rows(Decision.objects.filter(job_id=job.pk).order_by("pk")),
    }


def test_fast_path__leaves_the_same_rows_as_the_orm_path(settings: Settings) -> None:
    settings.WEFT_FAST_PATH = True
    fast = _run_lone_task("out\x00put")
    settings.WEFT_FAST_PATH = False
    orm = _run_lone_task("out\x00put")
    assert fast == orm
    assert fast["attempts"][0]["stdout"] == "out\ufffdput"


def _run_job(edges: bool) -> dict[str, Any]:
    """A three-task job (a DAG with ``edges``) submitted, every task claimed and succeeded in turn."""
    deps = {"b": ["a"], "c": ["a", "b"]} if edges else {}
    job = service.submit_job({"name": "same", "tasks": [
        {"key": k, "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": deps.get(k, [])} for k in "abc"]})
    for key in "abc":
        task = Task.objects.get(job_id=job.pk, key=key)
        claimed = claiming.claim(task.pk, 0, worker="w@h", celery_id="c1")
        assert claimed is not None, key
        report.record(claimed, Observation(Outcome.success({"v": key}), duration=0.5, stdout="o", exit_code=0))
    skip = {"id", "job", "task", "attempt", "upstream", "downstream", "created_at", "started_at", "finished_at",
            "dispatched_at", "pid"}

    def rows(qs: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k.split("_id")[0] not in skip and k not in skip} for r in qs.values()]

    return {
        "job": rows(Job.objects.filter(pk=job.pk)),
        "tasks": rows(Task.objects.filter(job_id=job.pk).order_by("key")),
        "edges": sorted(Dependency.objects.filter(downstream__job_id=job.pk)
                        .values_list("downstream__key", "upstream__key")),
        "attempts": rows(Attempt.objects.filter(job_id=job.pk).order_by("task__key")),
        "decisions": rows(Decision.objects.filter(job_id=job.pk).order_by("pk")),
    }


@pytest.mark.parametrize("edges", [False, True], ids=["independent", "dag"])
def test_fast_path__a_job_of_many_tasks_leaves_the_same_rows_as_the_orm_path(edges: bool, settings: Settings) -> None:
    """Every event with a PostgreSQL version: the job's tasks and edges inserted (rows.insert_tasks,
    rows.insert_dependencies), each claim, and each success (the last one finishing the job)."""
    settings.WEFT_FAST_PATH = True
    fast = _run_job(edges)
    settings.WEFT_FAST_PATH = False
    orm = _run_job(edges)
    assert fast == orm
    assert fast["job"][0]["status"] == "succeeded"
    assert [d["action"] for d in fast["decisions"]][-1] == "finish_job"
    assert len(fast["edges"]) == (3 if edges else 0)


def test_record__a_decomposition_into_a_disabled_skill_fails_the_task_and_adds_nothing() -> None:
    from weft_django import registry
    from weft_django.models import Skill

    registry.sync()
    Skill.objects.filter(name="t.add").update(enabled=False)
    task = queued_task("t.noop", x=1)
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    report.record(claimed, Observation(Outcome.decompose([{"skill": "t.add", "params": {"a": 1, "b": 2}}]),
                                       attempt_outcome="decomposed"))
    task.refresh_from_db()
    assert task.status == TaskStatus.FAILED
    assert "skill 't.add' is disabled" in task.error
    assert Task.objects.filter(job_id=task.job_id).count() == 1


def test_cancel_task__cancelling_a_blocked_task_cancels_the_needs_it_added() -> None:
    """A need exists only for the task that asked for it: cancelling that task ends its needs too (idle ones
    at once, a running one through its worker), and the job can finish."""
    task = queued_task("t.add", a=1, b=2)
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    needs = [{"key": "n1", "skill": "t.add", "params": {"a": 1, "b": 1}},
             {"key": "n2", "skill": "t.add", "params": {"a": 2, "b": 2}}]
    report.record(claimed, Observation(Outcome.blocked("waits for n1, n2", needs=needs), "blocked"))
    n1 = Task.objects.get(job_id=task.job_id, key="n1")
    assert claiming.claim(n1.pk, 0) is not None  # n1 runs, n2 stays queued
    assert service.cancel_task(task.pk, by="ops") is True
    states = dict(Task.objects.filter(job_id=task.job_id).values_list("key", "status"))
    assert states == {task.key: "cancelled", "n1": "running", "n2": "cancelled"}
    assert Task.objects.get(pk=n1.pk).cancel_requested
    decision = Decision.objects.get(task_id=task.pk, action="cancel")
    assert decision.observation == {"cancelled_tasks": 1, "stopping_tasks": 1}
    assert Job.objects.get(pk=task.job_id).tasks_open == 1  # n1, until its worker reports
