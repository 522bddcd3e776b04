"""A loop whose worker is killed mid-iteration resumes at that iteration in its next attempt: never from
zero, never recording an iteration twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import fault_worker, kill_pid, start_sweeper
from weft_django import service
from weft_django.models import Attempt, Iteration, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_faults__a_loop_killed_mid_iteration_resumes_at_that_iteration(procs: Processes, tmp_path: Path) -> None:
    procs.add(fault_worker())
    procs.add(start_sweeper())
    marker = tmp_path / "iteration-2-started"
    job = service.submit("t.loop_slow", {"seconds": 60, "marker": str(marker)})
    task = Task.objects.get(job=job)
    wait_for(marker.exists, 30, 0.05, "iteration 2 to start")
    assert list(Iteration.objects.filter(task=task).values_list("number", flat=True)) == [1]
    kill_pid(int(marker.read_text()))

    assert service.result(job.pk, timeout=60) == 3
    first, second = Attempt.objects.filter(task=task).order_by("number")
    assert (first.outcome, second.outcome) == ("lost", "succeeded")
    rows = list(Iteration.objects.filter(task=task).order_by("number").values_list("number", "attempt_id"))
    assert rows == [(1, first.pk), (2, second.pk), (3, second.pk)]
