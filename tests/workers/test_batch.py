"""Batched execution on real workers: a fan-out job's tasks go in chunks (weft_django.execute_many), each
claimed with the others of its message and recorded with them, with a full attempt and decision history."""

from __future__ import annotations

import pytest
from pytest_django import Settings

from tests.conftest import WorkerProcess
from weft_django import service
from weft_django.models import Attempt, Decision, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 500


def test_batch__a_fan_out_of_500_runs_in_chunks_with_every_attempt_and_decision(worker: WorkerProcess,
                                                                                   settings: Settings) -> None:
    settings.WEFT_BATCH_SIZE = 20
    job = service.submit_job({"name": "fan", "tasks": [
        {"key": f"k{i}", "skill": "t.add", "params": {"a": i, "b": 1}} for i in range(N)]})
    assert service.wait(job.pk, timeout=120).status == "succeeded"

    results = dict(Task.objects.filter(job=job).values_list("key", "result"))
    assert results == {f"k{i}": i + 1 for i in range(N)}
    attempts = list(Attempt.objects.filter(job=job).values_list("task_id", "number", "outcome", "celery_id"))
    assert len(attempts) == N and {(n, o) for _, n, o, _ in attempts} == {(1, "succeeded")}
    assert len({t for t, *_ in attempts}) == N
    # One message per chunk: the attempts of a chunk share its Celery id.
    messages = {c for *_, c in attempts}
    assert N // 20 <= len(messages) < N // 2, len(messages)
    actions = list(Decision.objects.filter(job=job).order_by("pk").values_list("action", flat=True))
    assert actions == ["succeed"] * N + ["finish_job"]
    assert "weft_django.execute_many" in worker.log_text()
