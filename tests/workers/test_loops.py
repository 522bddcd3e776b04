"""Loop skills on real workers: iterate until the validation passes, stop on a budget, say where they stand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WorkerProcess, wait_for
from weft_django import reports, service
from weft_django.models import Attempt, Decision, Iteration, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISH = 60.0


def test_loops__iterates_until_the_validation_passes_carrying_its_progress_log(worker: WorkerProcess) -> None:
    job = service.submit("t.loop_third")
    assert service.result(job.pk, timeout=FINISH) == 3
    task = Task.objects.get(job=job)
    rows = list(Iteration.objects.filter(task=task).order_by("number"))
    assert [(i.number, i.of, i.passed, i.validation) for i in rows] == [
        (1, 5, False, "1 of 3 done"), (2, 5, False, "2 of 3 done"), (3, 5, True, "3 of 3 done")]
    assert [i.summary for i in rows] == [f"step {n} saw {n - 1} earlier iterations" for n in (1, 2, 3)]
    [attempt] = Attempt.objects.filter(task=task)
    assert {i.attempt_id for i in rows} == {attempt.pk}
    assert attempt.cost == 1.5 and Task.objects.get(pk=task.pk).job.cost == 1.5  # counted against the job
    assert rows[2].result == 3
    line = "iteration 3 of 5: validation passed; 0 tokens used"
    assert service.status(job.pk)["loops"] == {"t.loop_third": line}
    assert f"Loop: task 't.loop_third': {line}" in service.explain(job.pk)


def test_loops__stops_when_its_token_budget_is_used_up(worker: WorkerProcess) -> None:
    job = service.submit("t.loop_tokens")
    done = service.wait(job.pk, timeout=FINISH)
    assert done.status == "stopped"  # out of its budget: the job is stopped, the reason the loop's
    assert done.stop_reason == "loop stopped: token budget used up: 1,200 of 1,000 tokens; last validation: failed"
    task = Task.objects.get(job=job)
    assert list(Iteration.objects.filter(task=task).values_list("number", "tokens")) == [(1, 400), (2, 400), (3, 400)]
    assert task.error == "Failure: loop stopped: token budget used up: 1,200 of 1,000 tokens; last validation: failed"
    assert Attempt.objects.filter(task=task).count() == 1  # not retried: the same log, the same budget
    assert Decision.objects.filter(task=task, action="fail").count() == 1
    assert Decision.objects.filter(job=job, action="stop_job").count() == 1
    assert reports.status(job.pk)["loops"] == {
        "t.loop_tokens": "iteration 3 of 10: validation failed: failed; 1,200 of 1,000 tokens used"}


def test_loops__a_validation_command_decides_and_its_output_is_kept(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "made"
    job = service.submit("t.loop_file", {"path": str(path)})
    assert service.result(job.pk, timeout=FINISH) == str(path)
    rows = list(Iteration.objects.filter(task__job=job).order_by("number").values_list("number", "passed"))
    assert rows == [(1, False), (2, True)]
    assert path.read_text() == "made by iteration 2"


def test_loops__a_step_asking_for_input_blocks_the_loop_and_an_unblock_resumes_it(worker: WorkerProcess,
                                                                                    tmp_path: Path) -> None:
    answer = tmp_path / "answer"
    job = service.submit_job({"tasks": [{"key": "loop", "skill": "t.loop_ask", "params": {"answer": str(answer)}},
                                        {"key": "other", "skill": "t.sleep_cmd", "params": {"seconds": 30}}]})
    task = Task.objects.get(job=job, key="loop")
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="blocked").exists(), FINISH, 0.05, "the loop to block")
    assert Task.objects.get(pk=task.pk).blocked_reason == "which database should the migration target?"
    assert list(Iteration.objects.filter(task=task).values_list("number", flat=True)) == [1]
    answer.write_text("postgres")
    assert service.unblock(task.pk, "the answer is in the file")
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="succeeded").exists(), FINISH, 0.05, "the loop to pass")
    assert list(Iteration.objects.filter(task=task).values_list("number", "passed")) == [
        (1, False), (2, False), (3, True)]  # resumed at iteration 2, none recorded twice
    assert Attempt.objects.filter(task=task).count() == 2
    service.cancel(job.pk)


def test_loops__the_jobs_deadline_stops_a_loop(worker: WorkerProcess) -> None:
    job = service.submit_job({"tasks": [{"key": "loop", "skill": "t.loop_forever"}], "budget": {"deadline": 2}})
    assert service.wait(job.pk, timeout=FINISH).status == "stopped"
    job.refresh_from_db()
    # Between iterations the loop asks the job and stops it; during one, the job's deadline (which caps the
    # attempt's timeout) interrupts it: whichever comes first, the job is stopped naming the deadline.
    assert job.stop_reason.startswith("deadline passed (") or job.stop_reason.endswith("the job deadline has passed")
    assert Decision.objects.filter(job_id=job.pk, action="stop_job").count() == 1
    numbers = list(Iteration.objects.filter(job_id=job.pk).values_list("number", flat=True))
    assert 3 <= len(numbers) <= 12 and numbers == list(range(1, len(numbers) + 1))
    assert job.finished_at is not None  # not at the next sweep: between iterations
    assert (job.finished_at - job.created_at).total_seconds() < 5
