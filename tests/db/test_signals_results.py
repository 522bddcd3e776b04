"""Signals fire after commit; results() is partial while a job runs and carries artifacts.

The runner is called in-process here (the same function a Celery worker calls) so the receivers run in
this process. Tasks go to a queue no test worker consumes, so only this process runs them.
"""

from __future__ import annotations

from typing import Any

import pytest

from weft_django import service, signals
from weft_django.execution.runner import execute
from weft_django.models import Task

pytestmark = pytest.mark.django_db(transaction=True)

INPROC = "weft-inprocess-tests"


def test_signals__sent_after_commit_in_order() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    def receiver(name: str) -> Any:
        def on(sender: Any, **kwargs: Any) -> None:
            seen.append((name, {k: v for k, v in kwargs.items() if k != "signal"}))
        return on

    handlers = {s: receiver(n) for n, s in (("job_submitted", signals.job_submitted),
                                            ("task_started", signals.task_started),
                                            ("task_finished", signals.task_finished),
                                            ("job_finished", signals.job_finished))}
    for sig, handler in handlers.items():
        sig.connect(handler, weak=False)
    try:
        job = service.submit("t.add", {"a": 1, "b": 1}, queue=INPROC)
        task = Task.objects.get(job=job)
        execute(task.pk, 0)
    finally:
        for sig, handler in handlers.items():
            sig.disconnect(handler)
    assert [n for n, _ in seen] == ["job_submitted", "task_started", "task_finished", "job_finished"]
    assert seen[0][1] == {"job_id": job.pk}
    assert seen[1][1] == {"job_id": job.pk, "task_id": task.pk, "attempt": 1}
    assert seen[2][1] == {"job_id": job.pk, "task_id": task.pk, "status": "succeeded"}
    assert seen[3][1] == {"job_id": job.pk, "status": "succeeded"}


def test_results__partial_while_running_with_artifacts() -> None:
    job = service.submit_job({"tasks": [{"key": "r", "skill": "t.report", "params": {"pages": 3}, "queue": INPROC},
                                        {"key": "n", "skill": "t.noop", "depends_on": ["r"], "queue": INPROC}]})
    before = service.results(job.pk)
    assert before["complete"] is False
    assert {k: v["status"] for k, v in before["tasks"].items()} == {"r": "queued", "n": "pending"}
    execute(Task.objects.get(job=job, key="r").pk, 0)
    partial = service.results(job.pk)
    assert partial["complete"] is False
    assert partial["tasks"]["r"]["result"] == {"pages": 3}
    assert partial["tasks"]["r"]["artifacts"] == {"summary": "3 pages", "sizes": [1, 1, 1]}
    assert partial["tasks"]["n"]["status"] == "queued"
    execute(Task.objects.get(job=job, key="n").pk, 0)
    done = service.results(job.pk)
    assert done["complete"] is True and done["status"] == "succeeded"
