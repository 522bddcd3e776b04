"""Loop skills on real workers: iterate until the validation passes, stop on a budget, say where they stand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WorkerProcess
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
    assert service.wait(job.pk, timeout=FINISH).status == "failed"
    task = Task.objects.get(job=job)
    assert list(Iteration.objects.filter(task=task).values_list("number", "tokens")) == [(1, 400), (2, 400), (3, 400)]
    assert task.error == "Failure: loop stopped: token budget used up: 1,200 of 1,000 tokens; last validation: failed"
    assert Attempt.objects.filter(task=task).count() == 1  # not retried: the same log, the same budget
    assert Decision.objects.filter(task=task, action="fail").count() == 1
    assert reports.status(job.pk)["loops"] == {
        "t.loop_tokens": "iteration 3 of 10: validation failed: failed; 1,200 of 1,000 tokens used"}


def test_loops__a_validation_command_decides_and_its_output_is_kept(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "made"
    job = service.submit("t.loop_file", {"path": str(path)})
    assert service.result(job.pk, timeout=FINISH) == str(path)
    rows = list(Iteration.objects.filter(task__job=job).order_by("number").values_list("number", "passed"))
    assert rows == [(1, False), (2, True)]
    assert path.read_text() == "made by iteration 2"
