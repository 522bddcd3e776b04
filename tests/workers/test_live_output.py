"""Live output: a running attempt's stdout shows on its row (and so in the admin, the API's task detail and
weft_status) while it runs, at most a second behind; the final tail replaces it when it ends."""

from __future__ import annotations

import pytest

from tests.conftest import WorkerProcess, wait_for
from weft_django import service
from weft_django.models import Attempt, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("skill,line", [("t.ticks", "tick 2"), ("t.py_ticks", "py tick 2")],
                         ids=["command", "python"])
def test_live_output__shows_while_the_attempt_runs(worker: WorkerProcess, skill: str, line: str) -> None:
    job = service.submit(skill)
    task = wait_for(lambda: Task.objects.filter(job=job).first(), 10, 0.05, "the task")
    seen = wait_for(lambda: Attempt.objects.filter(task=task, outcome="running", stdout__contains=line).first(),
                    20, 0.1, f"{line!r} in the running attempt's stdout")
    assert "tick 6" not in seen.stdout  # still running: the rest comes later
    assert service.wait(job.pk, timeout=30).status == "succeeded"
    final = Attempt.objects.get(task=task)
    assert final.outcome == "succeeded" and final.stdout.splitlines()[-1].endswith("tick 6")
