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


def test_batch__a_busy_producers_lone_submits_are_published_grouped_and_run_as_chunks(
        worker: WorkerProcess, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """WEFT_SUBMIT_GROUP_MS: submits in a loop go out a group to a message (the first alone, the process being
    idle); each job is committed when submit returns and ends with its own attempt and decisions."""
    import weft_django
    from weft_django import grouping

    settings.WEFT_BATCH_SIZE = 20
    settings.WEFT_SUBMIT_GROUP_MS = 200
    monkeypatch.setattr(grouping, "BUSY_GAP", 1.0)  # a loaded machine's submit may take longer than 2 ms
    jobs = [weft_django.submit("t.add", {"a": i, "b": 1}) for i in range(60)]
    assert Task.objects.filter(job__in=[j.pk for j in jobs]).count() == 60  # committed before any publish
    assert jobs[0].delivery is not None and jobs[0].delivery.sent == 1  # the first went at once
    grouping._grouper.flush()  # what still waits for the window (it would go within 200 ms anyway)
    for j in jobs:
        assert service.wait(j.pk, timeout=60).status == "succeeded"
        assert j.delivery is not None and j.delivery.sent == 1
    attempts = list(Attempt.objects.filter(job__in=[j.pk for j in jobs]).values_list("celery_id", "outcome"))
    assert len(attempts) == 60 and {o for _, o in attempts} == {"succeeded"}
    messages = {c for c, _ in attempts}
    assert len(messages) <= 6, len(messages)  # 1 alone, then groups of up to 20
    results = Task.objects.filter(job__in=[j.pk for j in jobs]).values_list("result", flat=True)
    assert sorted(r for r in results if r is not None) == list(range(1, 61))
