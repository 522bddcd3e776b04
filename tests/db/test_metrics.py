"""The Prometheus endpoint: what it says, parsed by prometheus-client's own parser; its token; and its reads
going through the partial indexes of live tasks, so a scrape does not read history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.test import RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from weft_django import metrics, service
from weft_django.lifecycle import claim as claiming
from weft_django.models import Breaker, SweepRun, Task

pytestmark = pytest.mark.django_db


def scrape(**headers: str) -> tuple[int, dict[str, list[tuple[dict[str, str], float]]]]:
    response = metrics.view(RequestFactory().get("/metrics", headers=headers))
    if response.status_code != 200:
        return response.status_code, {}
    families = text_string_to_metric_families(response.content.decode())
    return 200, {f.name: [(s.labels, s.value) for s in f.samples] for f in families}


def test_the_endpoint_says_what_runs_waits_and_recovered(settings: Any) -> None:
    settings.WEFT_QUEUES = None
    for _ in range(3):
        service.submit("t.noop")
    service.submit("t.add", {"a": 1, "b": 2}, queue="fast")
    running = Task.objects.filter(skill_name="t.noop").first()
    assert running is not None and claiming.claim(running.pk, 0) is not None
    Task.objects.filter(skill_name="t.add").update(dispatched_at=timezone.now() - timedelta(seconds=90))
    now = timezone.now()
    SweepRun.objects.create(started_at=now - timedelta(seconds=2), finished_at=now, counts={"lost": 2, "retried": 2})
    Breaker.objects.create(provider="openai:default", failures=5, open_until=now + timedelta(seconds=60))
    status, m = scrape()
    assert status == 200
    assert sorted(m["weft_tasks_queued"], key=lambda s: s[0]["skill"]) == [
        ({"skill": "t.add", "queue": "fast"}, 1.0), ({"skill": "t.noop", "queue": "weft"}, 2.0)]
    assert m["weft_tasks_running"] == [({"skill": "t.noop", "queue": "weft"}, 1.0)]
    [(_, age)] = [s for s in m["weft_queue_oldest_seconds"] if s[0]["queue"] == "fast"]
    assert 89 <= age < 120
    assert ({"kind": "lost"}, 2.0) in m["weft_sweep_last_count"]
    assert m["weft_sweep_last_duration_seconds"] == [({}, 2.0)]
    assert m["weft_llm_breaker_open"] == [({"provider": "openai:default"}, 1.0)]


def test_a_token_is_required_once_set(settings: Any) -> None:
    settings.WEFT_METRICS_TOKEN = "t0ken"
    assert scrape()[0] == 401
    assert scrape(Authorization="Bearer wrong")[0] == 401
    assert scrape(Authorization="Bearer t0ken")[0] == 200


def test_the_task_reads_use_the_partial_indexes_of_live_tasks() -> None:
    """With history (finished tasks) far outnumbering live ones, as on a busy site."""
    job = service.submit_job({"tasks": [{"key": f"h{i}", "skill": "t.noop"} for i in range(3000)]})
    Task.objects.filter(job=job).update(status="succeeded", finished_at=timezone.now())
    service.submit("t.noop")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE weft_task")
    for status, index in (("queued", "weft_task_queued_idx"), ("running", "weft_task_lease_idx")):
        text = (Task.objects.filter(status=status).values("skill_name", "queue").annotate(n=Count("pk")).order_by()
                .explain())
        assert index in text, text
