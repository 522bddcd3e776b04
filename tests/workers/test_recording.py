"""Recording what a real worker saw (issue 10): output and results PostgreSQL would refuse, the result
stored once and capped, cost that adds up, and the worker's log line that tells the truth."""

from __future__ import annotations

import re

import pytest

from tests.conftest import WorkerProcess, wait_for
from tests.workers.test_execution import FINISH, attempts_of, only_task
from weft_django import service
from weft_django.conf import settings
from weft_django.models import Artifact, Attempt, Job, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SKILLS = ["t.awkward", "t.awkward_isolated"]  # in the pool process, and in a forked child (isolation="process")


def finished(job: Job) -> Task:
    """The job's only task once it is no longer queued or running (never through a lease running out)."""
    def done() -> bool:
        return Task.objects.filter(job=job, status__in=("queued", "running")).count() == 0

    wait_for(done, FINISH, 0.1, f"job {job.pk} to leave queued/running")
    return only_task(job)


def log_line(worker: WorkerProcess, attempt: Attempt) -> str:
    """What the worker's log says its Celery task returned for ``attempt`` (written just after the commit)."""
    pattern = rf"weft_django\.execute\[{attempt.celery_id}\] succeeded in [\d.]+s: (.*)"

    def found() -> re.Match[str] | None:
        return re.search(pattern, worker.log_text())

    wait_for(lambda: found() is not None, FINISH, 0.1, f"the log line of attempt {attempt.pk}")
    match = found()
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("skill", SKILLS)
def test_recording__printed_surrogate_and_nul_are_cleaned_and_the_task_succeeds(worker: WorkerProcess,
                                                                                skill: str) -> None:
    task = finished(service.submit(skill, {"how": "print"}))

    [attempt] = attempts_of(task)
    assert (task.status, task.result, attempt.outcome) == ("succeeded", "printed", "succeeded")
    assert "\ud800" not in attempt.stdout and attempt.stdout.startswith("before ") and "after" in attempt.stdout
    assert attempt.stderr == "nul \ufffd here\n"


@pytest.mark.parametrize("skill", SKILLS)
def test_recording__returned_surrogate_is_refused_as_not_serializable(worker: WorkerProcess, skill: str) -> None:
    task = finished(service.submit(skill, {"how": "return"}))

    [attempt] = attempts_of(task)
    assert (task.status, attempt.outcome, attempt.error_type) == ("failed", "failed", "NotSerializable")
    assert attempt.error_message == "result.text: must not contain a lone surrogate (\\ud800): it is not a character"
    assert attempt.result is None and task.result is None
    assert task.error == f"NotSerializable: {attempt.error_message}"
    assert task.attempts == 1  # not retried: the same value would be refused again
    assert log_line(worker, attempt).endswith("'outcome': 'failed', 'error_type': 'NotSerializable'}")


@pytest.mark.parametrize("skill", SKILLS)
def test_recording__raised_surrogate_and_nul_are_cleaned_in_the_error_and_traceback(worker: WorkerProcess,
                                                                                   skill: str) -> None:
    task = finished(service.submit(skill, {"how": "raise"}))

    [attempt] = attempts_of(task)
    assert (task.status, attempt.outcome, attempt.error_type) == ("failed", "failed", "ValueError")
    assert attempt.error_message == "bad \ufffd value \ufffd"
    assert "ValueError: bad \ufffd value \ufffd" in attempt.traceback
    assert task.error == "ValueError: bad \ufffd value \ufffd"


@pytest.mark.parametrize("skill", SKILLS)
def test_recording__blocked_reason_with_a_surrogate_is_cleaned(worker: WorkerProcess, skill: str) -> None:
    task = finished(service.submit(skill, {"how": "block"}))

    [attempt] = attempts_of(task)
    assert (task.blocked_reason, attempt.outcome) == ("waiting \ufffd", "blocked")  # then stopped as stuck


def test_recording__command_stdout_with_nul_is_cleaned_in_the_output_and_the_result(worker: WorkerProcess) -> None:
    job = service.submit("t.nul_cmd")

    assert service.result(job.pk, timeout=FINISH) == {"exit_code": 0, "stdout": "before\ufffdafter"}
    [attempt] = attempts_of(only_task(job))
    assert (attempt.outcome, attempt.stdout) == ("succeeded", "before\ufffdafter")


@pytest.mark.parametrize("skill", SKILLS)
@pytest.mark.parametrize("how", ["big", "big_artifact"])
def test_recording__result_or_artifact_over_the_cap_fails_for_good_naming_both_sizes(worker: WorkerProcess,
                                                                                   skill: str, how: str) -> None:
    cap = settings.MAX_RESULT_BYTES
    assert cap is not None
    task = finished(service.submit(skill, {"how": how, "size": cap}))  # as JSON: two quotes more than the cap

    [attempt] = attempts_of(task)
    assert (task.status, task.attempts, attempt.outcome, attempt.error_type) == ("failed", 1, "failed",
                                                                                 "ResultTooLarge")
    what = "result" if how == "big" else "artifacts.blob"
    assert attempt.error_message == (f"{what} is {cap + 2:,} bytes of JSON, over the cap of {cap:,} bytes "
                                     "(WEFT_MAX_RESULT_BYTES)")
    assert task.result is None and attempt.result is None and not Artifact.objects.filter(task=task).exists()


@pytest.mark.parametrize("skill", ["t.add", "t.report"])  # the one-statement fast path, and the ORM path
def test_recording__a_result_is_stored_on_its_task_only(worker: WorkerProcess, skill: str) -> None:
    job = service.submit(skill, {"a": 2, "b": 3} if skill == "t.add" else {"pages": 2})

    expected = 5 if skill == "t.add" else {"pages": 2}
    assert service.result(job.pk, timeout=FINISH) == expected
    task = only_task(job)
    [attempt] = attempts_of(task)
    assert (task.result, attempt.outcome, attempt.result) == (expected, "succeeded", None)
    assert service.results(job.pk)["tasks"][task.key]["result"] == expected


@pytest.mark.parametrize("skill", SKILLS)
def test_recording__reported_cost_and_outcome_cost_add_up(worker: WorkerProcess, skill: str) -> None:
    job = service.submit(skill, {"how": "cost"})

    assert service.result(job.pk, timeout=FINISH) == 1
    [attempt] = attempts_of(only_task(job))
    job.refresh_from_db()
    assert (attempt.cost, job.cost) == (3.5, 3.5)  # ctx.report_cost(1.5) + Outcome.success(cost=2.0)


def test_recording__the_worker_log_line_says_what_became_of_the_task(worker: WorkerProcess) -> None:
    fatal = service.submit("t.fatal")
    slow = service.submit("t.sleep_cmd", {"seconds": "30"}, timeout=1, retry={"max_attempts": 1})
    ok = service.submit("t.add", {"a": 1, "b": 1})
    for job in (fatal, slow, ok):
        finished(job)

    def line(job: Job) -> str:
        return log_line(worker, Attempt.objects.get(task__job=job))

    task = {job.pk: only_task(job).pk for job in (fatal, slow, ok)}
    assert line(fatal) == (f"{{'task': {task[fatal.pk]}, 'skill': 't.fatal', 'attempt': 1, 'outcome': 'failed', "
                           "'error_type': 'NonRetryable'}")
    assert line(slow) == (f"{{'task': {task[slow.pk]}, 'skill': 't.sleep_cmd', 'attempt': 1, "
                          "'outcome': 'timed_out', 'error_type': 'Timeout'}")
    assert line(ok) == f"{{'task': {task[ok.pk]}, 'skill': 't.add', 'attempt': 1, 'outcome': 'succeeded'}}"
