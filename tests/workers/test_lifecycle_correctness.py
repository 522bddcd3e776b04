"""Issue 11, "correctness found while reading": runtime task keys, the budget rule for lost attempts,
cancelling a decomposed task, and a need racing the release of the task it waits on.

The tests stand in for workers with ``claiming.claim`` / ``report.record`` (what ``execute`` calls) on
real PostgreSQL, and assert from the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models.functions import Now

from tests.conftest import WorkerProcess, wait_for
from weft_django import service, sweep
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.models import Attempt, Decision, Job, Task
from weft_django.outcomes import Observation, Outcome

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"  # no worker consumes it: the test plays the worker


def job_of(*tasks: dict[str, Any], **extra: Any) -> dict[str, Task]:
    job = service.submit_job({"tasks": [{"queue": INPROC, "skill": "t.noop", **t} for t in tasks], **extra})
    return {t.key: t for t in Task.objects.filter(job=job)}


def claim(task: Task) -> claiming.Claimed:
    task.refresh_from_db()
    c = claiming.claim(task.pk, task.attempts, worker="w1@test")
    assert c is not None
    return c


def blocked(*needs: dict[str, Any]) -> Observation:
    return Observation(Outcome.blocked("needs more", needs=[{"queue": INPROC, **n} for n in needs]), "blocked")


def decompose(*children: dict[str, Any]) -> Observation:
    return Observation(Outcome.decompose([{"queue": INPROC, **c} for c in children]), "decomposed")


def refusal(task_id: int) -> tuple[str, int, str, str, list[str]]:
    """(status, attempts, attempt outcomes, last decision's action, its reason)."""
    t = Task.objects.get(pk=task_id)
    d = Decision.objects.filter(task_id=task_id).order_by("pk").last()
    assert d is not None
    outcomes = list(Attempt.objects.filter(task_id=task_id).values_list("outcome", flat=True))
    return t.status, t.attempts, d.action, d.reason, outcomes


# ------------------------------------------------------------------ (1) keys of tasks added at run time


def test_needs__a_key_that_exists_in_the_job_fails_the_attempt_at_once_naming_it() -> None:
    tasks = job_of({"key": "a"}, {"key": "b"})
    c = claim(tasks["b"])

    assert report.record(c, blocked({"key": "a", "skill": "t.noop"})) == ("failed", "")

    status, attempts, action, reason, outcomes = refusal(c.task_id)
    assert (status, attempts, action, outcomes) == ("failed", 1, "fail", ["failed"])
    assert reason == "refused runtime dependencies: needs: task key 'a' already exists in the job"
    assert Task.objects.filter(job_id=c.job_id).count() == 2  # nothing half-written


def test_needs__the_same_key_twice_fails_the_attempt_naming_it() -> None:
    c = claim(job_of({"key": "b"})["b"])

    report.record(c, blocked({"key": "x", "skill": "t.noop"}, {"key": "x", "skill": "t.noop"}))

    status, attempts, action, reason, _ = refusal(c.task_id)
    assert (status, attempts, action) == ("failed", 1, "fail")
    assert reason == "refused runtime dependencies: needs: task key 'x' is given twice"
    assert Job.objects.get(pk=c.job_id).status == "failed"


def test_needs__a_composed_key_over_200_characters_fails_the_attempt_naming_it() -> None:
    parent = claim(job_of({"key": "p" * 100})["p" * 100])
    report.record(parent, decompose({"key": "c" * 99, "skill": "t.noop"}))
    child = claim(Task.objects.get(job_id=parent.job_id, key=f"{'p' * 100}/{'c' * 99}"))  # 200 characters

    report.record(child, blocked({"skill": "t.noop"}))  # its need's key would be "<child>.need1.0"

    status, attempts, action, reason, _ = refusal(child.task_id)
    key = f"{'p' * 100}/{'c' * 99}.need1.0"
    assert (status, attempts, action) == ("failed", 1, "fail")
    assert reason == f"refused runtime dependencies: needs: task key {key!r} has 208 characters, more than 200"


def test_decompose__a_child_key_over_200_characters_fails_the_attempt_naming_it() -> None:
    c = claim(job_of({"key": "p" * 100})["p" * 100])

    report.record(c, decompose({"key": "c" * 100, "skill": "t.noop"}))

    status, _, action, reason, _ = refusal(c.task_id)
    assert (status, action) == ("failed", "fail")
    assert reason == (f"invalid decomposition: children: task key {'p' * 100 + '/' + 'c' * 100!r} "
                      "has 201 characters, more than 200")


def _in_thread(target: Callable[[], object]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return bool(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_needs__two_tasks_adding_the_same_key_at_once__the_second_fails_naming_it() -> None:
    tasks = job_of({"key": "a"}, {"key": "b"})
    a, b = claim(tasks["a"]), claim(tasks["b"])
    release, held = threading.Event(), threading.Event()

    def first() -> None:  # a's report is applied, not yet committed, when b's comes in
        with transaction.atomic():
            report.record(a, blocked({"key": "x", "skill": "t.noop"}))
            held.set()
            release.wait(30)

    one = _in_thread(first)
    assert held.wait(30)
    out: list[Any] = []
    two = _in_thread(lambda: out.append(report.record(b, blocked({"key": "x", "skill": "t.noop"}))))
    wait_for(_waiting_on_a_lock, 30, 0.05, "b's insert to wait on a's key")
    release.set()
    one.join(30)
    two.join(30)
    assert not one.is_alive() and not two.is_alive()

    assert out == [("failed", "")]
    status, attempts, action, reason, outcomes = refusal(b.task_id)
    assert (status, attempts, action, outcomes) == ("failed", 1, "fail", ["failed"])
    assert reason == "refused runtime dependencies: needs: task key 'x' already exists in the job"
    assert Task.objects.get(pk=a.task_id).status == "blocked"
    assert Task.objects.get(job_id=a.job_id, key="x").parent_id == a.task_id


# ------------------------------------------------------------------ (2) one budget rule


def test_lost_attempt_that_exhausts_the_budget_stops_the_job() -> None:
    """With other tasks open (a one-task job: tests/db/test_sweep.py)."""
    tasks = job_of({"key": "a", "skill": "t.flaky"}, {"key": "b"}, budget={"max_attempts": 1})
    c = claim(tasks["a"])
    Task.objects.filter(pk=c.task_id).update(lease_expires_at=Now() - timedelta(seconds=1))

    sweep.sweep()

    job = Job.objects.get(pk=c.job_id)
    assert (job.status, job.stop_reason) == ("stopped", "attempt 1 of 5 was lost (its lease expired); the job's "
                                                        "attempt budget is used up")
    assert Task.objects.get(pk=c.task_id).status == "failed"
    assert Task.objects.get(pk=tasks["b"].pk).status == "cancelled"
    assert Decision.objects.filter(job_id=c.job_id, action="stop_job").count() == 1


# ------------------------------------------------------------------ (3) cancelling a decomposed task


def test_cancel_task__reaches_the_children_of_a_decomposed_task() -> None:
    tasks = job_of({"key": "p"}, {"key": "other"})
    p = claim(tasks["p"])
    report.record(p, decompose({"key": "one", "skill": "t.noop"}, {"key": "two", "skill": "t.noop"},
                               {"key": "three", "skill": "t.noop", "depends_on": ["two"]}))
    kids = {t.key: t for t in Task.objects.filter(parent_id=p.task_id)}
    one = claim(kids["p/one"])  # running when the cancel comes

    assert service.cancel_task(p.task_id) is True

    status = dict(Task.objects.filter(job_id=p.job_id).values_list("key", "status"))
    assert status == {"p": "cancelled", "p/one": "running", "p/two": "cancelled", "p/three": "cancelled",
                      "other": "queued"}
    assert Task.objects.get(pk=one.task_id).cancel_requested is True
    # Its worker sees the request and stops it, like any cancel.
    report.record(one, Observation(Outcome.failure("interrupted"), "cancelled"))
    assert Task.objects.get(pk=one.task_id).status == "cancelled"
    job = Job.objects.get(pk=p.job_id)
    assert (job.status, job.tasks_open) == ("running", 1)  # only "other" is left
    report.record(claim(tasks["other"]), Observation(Outcome.success(1)))
    assert Job.objects.get(pk=p.job_id).status == "failed"


# ------------------------------------------------------------------ (4) a need racing its upstream's release


@pytest.mark.parametrize("fast", [True, False], ids=["fast_path", "orm"])
def test_needs__one_that_depends_on_a_task_still_running_is_released_when_it_succeeds(fast: bool, settings: Any,
                                                                                     ) -> None:
    settings.WEFT_FAST_PATH = fast
    tasks = job_of({"key": "u"}, {"key": "t"})
    u, t = claim(tasks["u"]), claim(tasks["t"])
    report.record(t, blocked({"key": "n", "skill": "t.noop", "depends_on": ["u"]}))
    assert Task.objects.get(job_id=u.job_id, key="n").pending_deps == 1

    report.record(u, Observation(Outcome.success(1)))  # claimed before it had dependents

    assert Task.objects.filter(job_id=u.job_id, key="n").values_list("status", "pending_deps").get() == ("queued", 0)


@pytest.mark.django_db(transaction=True)
def test_needs__one_added_while_its_upstream_commits_its_success_is_released() -> None:
    """Under READ COMMITTED: u's success releases its dependents from a snapshot taken before t's need and
    edge commit, while t read u as still running. Here u's transaction has written its success and waits;
    t's report comes in; then u commits."""
    tasks = job_of({"key": "u"}, {"key": "t"})
    u, t = claim(tasks["u"]), claim(tasks["t"])
    release, held = threading.Event(), threading.Event()

    def finish_u() -> None:
        with transaction.atomic():
            report.record(u, Observation(Outcome.success(1)))
            held.set()
            release.wait(30)

    one = _in_thread(finish_u)
    assert held.wait(30)
    two = _in_thread(lambda: report.record(t, blocked({"key": "n", "skill": "t.noop", "depends_on": ["u"]})))
    wait_for(lambda: _waiting_on_a_lock() or not two.is_alive(), 30, 0.05, "t's report to wait or finish")
    release.set()
    one.join(30)
    two.join(30)
    assert not one.is_alive() and not two.is_alive()

    n = Task.objects.filter(job_id=u.job_id, key="n").values_list("status", "pending_deps").get()
    assert n == ("queued", 0)
    assert Job.objects.get(pk=u.job_id).status == "running"


@pytest.mark.django_db(transaction=True)
def test_cancel_task__a_real_worker_stops_the_running_child_of_a_cancelled_decomposed_task(
        worker: WorkerProcess) -> None:
    p = claim(job_of({"key": "p"})["p"])
    # The children go to the worker's queue ("weft"); the test played the parent's worker.
    report.record(p, Observation(Outcome.decompose([{"key": "slow", "skill": "t.sleep", "params": {"seconds": 120}},
                                                    {"key": "after", "skill": "t.noop", "depends_on": ["slow"]}]),
                                 "decomposed"))
    slow = Task.objects.get(job_id=p.job_id, key="p/slow")
    wait_for(lambda: Attempt.objects.filter(task=slow).exists(), 60, message="the child never started")

    assert service.cancel_task(p.task_id) is True

    wait_for(lambda: Attempt.objects.get(task=slow).outcome == "cancelled", 30, message="child attempt not cancelled")
    status = dict(Task.objects.filter(job_id=p.job_id).values_list("key", "status"))
    assert status == {"p": "cancelled", "p/slow": "cancelled", "p/after": "cancelled"}
    job = Job.objects.get(pk=p.job_id)
    assert (job.status, job.tasks_open) == ("failed", 0)
