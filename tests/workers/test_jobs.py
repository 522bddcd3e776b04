"""Jobs on real workers: DAG order, skips, decomposition, runtime needs, budgets, stuck, cancel, explain."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import WorkerProcess, wait_for
from weft_django import service
from weft_django.exceptions import InvalidInput
from weft_django.models import Attempt, Decision, Job, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISH = 60.0


def tasks_by_key(job: Job) -> dict[str, Task]:
    return {t.key: t for t in Task.objects.filter(job=job)}


def span(a: Attempt) -> tuple[datetime, datetime]:
    assert a.finished_at is not None
    return a.started_at, a.finished_at


def final(job: Job) -> Job:
    return service.wait(job.pk, timeout=FINISH)


def test_jobs__diamond_runs_in_dependency_order_with_middle_concurrent(worker: WorkerProcess) -> None:
    job = service.submit_job({"name": "diamond", "tasks": [
        {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}},
        {"key": "b", "skill": "t.sleep", "params": {"seconds": 1.0}, "depends_on": ["a"]},
        {"key": "c", "skill": "t.sleep", "params": {"seconds": 1.0}, "depends_on": ["a"]},
        {"key": "d", "skill": "t.add", "params": {"a": 1, "b": 1}, "depends_on": ["b", "c"]},
    ]})
    assert service.result(job.pk, timeout=FINISH) == {"a": 3, "b": 1.0, "c": 1.0, "d": 2}
    at = {a.task.key: span(a) for a in Attempt.objects.filter(job=job).select_related("task")}
    assert at["a"][1] <= min(at["b"][0], at["c"][0])
    assert at["b"][0] < at["c"][1] and at["c"][0] < at["b"][1]  # the middle two overlap
    assert at["d"][0] >= max(at["b"][1], at["c"][1])
    assert "every task succeeded" in service.explain(job.pk)


def test_jobs__failure_skips_descendants_while_independent_branch_finishes(worker: WorkerProcess) -> None:
    job = service.submit_job({"tasks": [
        {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 1}},
        {"key": "b", "skill": "t.fatal", "depends_on": ["a"]},
        {"key": "c", "skill": "t.add", "params": {"a": 1, "b": 1}, "depends_on": ["b"]},
        {"key": "e", "skill": "t.add", "params": {"a": 1, "b": 1}, "depends_on": ["c"]},
        {"key": "d", "skill": "t.sleep", "params": {"seconds": 0.5}},
    ]})
    assert final(job).status == "failed"
    t = tasks_by_key(job)
    assert {k: v.status for k, v in t.items()} == {
        "a": "succeeded", "b": "failed", "c": "skipped", "e": "skipped", "d": "succeeded"}
    skip_c = Decision.objects.get(task=t["c"], action="skip")
    assert "upstream task 'b' did not succeed" in skip_c.reason
    assert "upstream task 'c'" in Decision.objects.get(task=t["e"], action="skip").reason
    text = service.explain(job.pk)
    assert "Cause: task 'b' failed on attempt 1" in text
    assert "NonRetryable" in text


def test_jobs__decomposition_into_20_children_gathers_results(worker: WorkerProcess) -> None:
    job = service.submit("t.split", {"n": 20})
    assert service.result(job.pk, timeout=FINISH) == {f"c{i}": i * i for i in range(20)}
    parent = Task.objects.get(job=job, parent__isnull=True)
    children = Task.objects.filter(parent=parent)
    assert children.count() == 20 and all(c.status == "succeeded" for c in children)
    decision = Decision.objects.get(task=parent, action="decompose")
    assert decision.reason == "decomposed into 20 child tasks"
    # a child that depends on its predecessor started after the predecessor finished
    at = {a.task.key: span(a) for a in Attempt.objects.filter(job=job).select_related("task")}
    assert at["t.split/c2"][0] >= at["t.split/c1"][1]
    job.refresh_from_db()
    assert (job.status, job.tasks_total, job.tasks_open) == ("succeeded", 21, 0)


def test_jobs__decomposition_with_join_returns_the_join_result(worker: WorkerProcess) -> None:
    job = service.submit("t.split", {"n": 5, "join": True})
    assert service.result(job.pk, timeout=FINISH) == sum(i * i for i in range(5))


def test_jobs__blocked_with_needs_completes_after_the_added_task(worker: WorkerProcess) -> None:
    job = service.submit("t.needs_prep")
    assert service.result(job.pk, timeout=FINISH) == {"got": 42}
    t = tasks_by_key(job)
    assert t["prep"].status == "succeeded"
    main = t["t.needs_prep"]
    assert [a.outcome for a in Attempt.objects.filter(task=main).order_by("number")] == ["blocked", "succeeded"]
    actions = list(Decision.objects.filter(task=main).order_by("pk").values_list("action", flat=True))
    assert actions[:3] == ["block", "add_dependency", "succeed"]


def test_jobs__runtime_cycle_is_refused(worker: WorkerProcess) -> None:
    job = service.submit("t.needs_cycle")
    assert final(job).status == "failed"
    task = Task.objects.get(job=job)
    assert task.status == "failed"
    fail = Decision.objects.get(task=task, action="fail")
    assert "dependency cycle: t.needs_cycle -> loop -> t.needs_cycle" in fail.reason
    assert not Task.objects.filter(job=job, key="loop").exists()  # nothing of the refused addition was written
    assert "dependency cycle" in service.explain(job.pk)


def test_jobs__attempt_budget_stops_a_job_of_flaky_tasks(worker: WorkerProcess) -> None:
    job = service.submit_job({"budget": {"max_attempts": 5}, "tasks": [
        {"key": f"f{i}", "skill": "t.flaky", "params": {"succeed_on": 10}} for i in range(3)]})
    job = final(job)
    assert job.status == "stopped"
    assert "attempt budget" in job.stop_reason
    assert Attempt.objects.filter(job=job).count() <= 5
    # A task still running when the job stopped ends as cancelled once its attempt reports.
    wait_for(lambda: all(t.status in ("failed", "cancelled") for t in Task.objects.filter(job=job)), 10,
             message="tasks of the stopped job did not all end")
    assert Decision.objects.filter(job=job, action="stop_job").exists()
    assert "attempt budget" in service.explain(job.pk).splitlines()[1]


def test_jobs__cost_budget_stops_the_job(worker: WorkerProcess) -> None:
    job = service.submit_job({"budget": {"max_cost": 2.5}, "tasks": [
        {"key": f"k{i}", "skill": "t.costly", "params": {"cost": 1.0},
         **({"depends_on": [f"k{i - 1}"]} if i else {})} for i in range(5)]})
    job = final(job)
    assert job.status == "stopped"
    assert job.stop_reason.startswith("cost budget used up: 3 of 2.5")
    assert Task.objects.filter(job=job, status="succeeded").count() == 3


def test_jobs__deadline_stops_a_job(worker: WorkerProcess) -> None:
    started = time.monotonic()
    job = service.submit_job({"budget": {"deadline": 2}, "tasks": [
        {"key": "slow", "skill": "t.sleep", "params": {"seconds": 30}},
        {"key": "after", "skill": "t.noop", "depends_on": ["slow"]}]})
    job = final(job)
    assert time.monotonic() - started < 15
    assert job.status == "stopped"
    assert "deadline" in job.stop_reason
    assert Task.objects.get(job=job, key="after").status in ("cancelled", "skipped")
    assert "deadline" in service.explain(job.pk)


def test_jobs__all_tasks_blocked_stops_as_stuck(worker: WorkerProcess) -> None:
    job = service.submit_job({"tasks": [
        {"key": "x", "skill": "t.blocked"}, {"key": "y", "skill": "t.blocked"},
        {"key": "z", "skill": "t.noop", "depends_on": ["x"]}]})
    job = final(job)
    assert job.status == "stopped"
    assert job.stop_reason.startswith("stuck: nothing is runnable or running; blocked: ")
    assert "'x' (waiting for approval)" in job.stop_reason and "'y' (waiting for approval)" in job.stop_reason
    assert "stuck" in service.explain(job.pk)


def test_jobs__cancel_stops_a_running_command_within_5_seconds(worker: WorkerProcess) -> None:
    job = service.submit("t.sleep_cmd", {"seconds": 120})
    task = Task.objects.get(job=job)
    wait_for(lambda: Attempt.objects.filter(task=task).exists(), FINISH, message="task never started")
    wait_for(lambda: any(p.name() == "sleep" for w in worker.descendants() for p in [w]), 10,
             message="sleep process never appeared")
    started = time.monotonic()
    assert service.cancel(job.pk) is True
    wait_for(lambda: Attempt.objects.get(task=task).outcome == "cancelled", 10, message="attempt not cancelled")
    took = time.monotonic() - started
    print(f"cancel of a running command took {took:.2f} s")
    assert took < 5
    assert not [p for p in worker.descendants() if p.name() == "sleep"]
    task.refresh_from_db()
    assert task.status == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert "Cause: cancelled by request" in service.explain(job.pk)


def test_jobs__cancel_task_skips_its_dependents(worker: WorkerProcess) -> None:
    job = service.submit_job({"tasks": [
        {"key": "gate", "skill": "t.blocked"},
        {"key": "next", "skill": "t.noop", "depends_on": ["gate"]},
        {"key": "free", "skill": "t.sleep", "params": {"seconds": 3}}]})
    gate = Task.objects.get(job=job, key="gate")
    wait_for(lambda: Task.objects.get(pk=gate.pk).status == "blocked", FINISH)
    assert service.cancel_task(gate.pk) is True
    assert final(job).status == "failed"
    assert Task.objects.get(job=job, key="next").status == "skipped"
    assert Task.objects.get(job=job, key="free").status == "succeeded"


def test_jobs__cycle_in_submission_is_refused_and_nothing_written(db: None) -> None:
    with pytest.raises(InvalidInput, match=r"dependency cycle: a -> c -> b -> a|dependency cycle: .* -> a"):
        service.submit_job({"tasks": [
            {"key": "a", "skill": "t.noop", "depends_on": ["c"]},
            {"key": "b", "skill": "t.noop", "depends_on": ["a"]},
            {"key": "c", "skill": "t.noop", "depends_on": ["b"]}]})
    assert Job.objects.count() == 0 and Task.objects.count() == 0


def test_jobs__a_1000_task_dag_completes(worker: WorkerProcess) -> None:
    # 10 layers of 100; each task depends on two tasks of the layer before.
    tasks = []
    for layer in range(10):
        for i in range(100):
            deps = [f"L{layer - 1}.{i}", f"L{layer - 1}.{(i + 1) % 100}"] if layer else []
            tasks.append({"key": f"L{layer}.{i}", "skill": "t.noop", "depends_on": deps})
    started = time.monotonic()
    job = service.submit_job({"name": "thousand", "tasks": tasks})
    submitted = time.monotonic() - started
    job = service.wait(job.pk, timeout=300)
    took = time.monotonic() - started
    print(f"1,000-task DAG: submitted in {submitted:.2f} s, completed in {took:.1f} s")
    assert job.status == "succeeded"
    assert Task.objects.filter(job=job, status="succeeded").count() == 1000
    assert Attempt.objects.filter(job=job).count() == 1000
    first = {a.task.key: span(a) for a in Attempt.objects.filter(job=job, task__key__in=["L0.0", "L0.1", "L1.0"])
             .select_related("task")}
    assert first["L1.0"][0] >= max(first["L0.0"][1], first["L0.1"][1])


def test_jobs__a_large_flat_job_is_fanned_out_and_completes(worker: WorkerProcess, settings: Any) -> None:
    from weft_django.dispatch import FANOUT_CHUNK

    # One task a message from the submitter (a chunk of them a message: a fan-out 20 times larger); the workers
    # publish theirs with their own WEFT_BATCH_SIZE (batched execution).
    settings.WEFT_BATCH_SIZE = 1
    n = FANOUT_CHUNK * 3 + 7  # the submitter publishes one chunk, workers publish the other three
    started = time.monotonic()
    job = service.submit_job({"tasks": [{"key": f"n{i}", "skill": "t.noop"} for i in range(n)]})
    submitted = time.monotonic() - started
    job = service.wait(job.pk, timeout=180)
    print(f"{n}-task flat job: submitted in {submitted:.2f} s, done in {time.monotonic() - started:.1f} s")
    assert job.status == "succeeded"
    assert Attempt.objects.filter(job=job).count() == n  # every task ran exactly once


def test_jobs__submit_many_of_200_runs_every_job_once(worker: WorkerProcess) -> None:
    jobs = service.submit_many([{"skill": "t.add", "params": {"a": i, "b": 1}, "labels": {"i": i}} for i in range(200)])
    delivery = jobs[0].delivery
    assert len({j.pk for j in jobs}) == 200 and delivery is not None and delivery.sent == 200
    wait_for(lambda: not Job.objects.filter(pk__in=[j.pk for j in jobs]).exclude(status="succeeded").exists(),
             FINISH * 2, message="200 submitted jobs to succeed")
    assert [service.result(j.pk) for j in jobs] == [i + 1 for i in range(200)]
    assert Attempt.objects.filter(job__in=jobs, outcome="succeeded").count() == 200
    assert Attempt.objects.filter(job__in=jobs).count() == 200  # each ran once
