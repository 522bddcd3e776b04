"""Prometheus metrics at a URL you mount: ``path("metrics", weft_django.metrics.view)`` (needs
prometheus-client: ``pip install "weft-django[metrics]"``). Set WEFT_METRICS_TOKEN to require
``Authorization: Bearer <token>``; without it, mount the view where only your Prometheus reaches it."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse

from . import reports
from .conf import settings


class _Collector:
    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.s = snapshot

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        s = self.s
        for name, label, what in (("tasks_finished", "status", "Tasks that reached a final status"),
                                  ("attempts_finished", "outcome", "Attempts that ended, by outcome")):
            c = CounterMetricFamily(f"weft_{name}", f"{what}, by skill, since counting began (the Tally rows)",
                                    labels=["skill", label])
            for skill, value, n in s[name]:
                c.add_metric([skill, value], n)
            yield c
        for state in ("queued", "running"):
            g = GaugeMetricFamily(f"weft_tasks_{state}", f"Tasks {state} now, by skill and queue",
                                  labels=["skill", "queue"])
            for skill, queue, n in s[state]:
                g.add_metric([skill, queue], n)
            yield g
        g = GaugeMetricFamily("weft_tasks_awaiting_approval", "Tasks waiting for someone's approval", labels=["skill"])
        for skill, n in s["awaiting_approval"]:
            g.add_metric([skill], n)
        yield g
        g = GaugeMetricFamily("weft_queue_oldest_seconds", "Age of the oldest due queued task (queue depth in time)",
                              labels=["queue"])
        for queue, age in s["oldest_queued_seconds"].items():
            g.add_metric([queue], age)
        yield g
        g = GaugeMetricFamily("weft_workers", "Celery workers weft has seen, by state", labels=["state"])
        for state, n in s["workers"].items():
            g.add_metric([state], n)
        yield g
        g = GaugeMetricFamily("weft_llm_breaker_open", "1 while a model provider's circuit breaker is open",
                              labels=["provider"])
        for provider, (is_open, _) in s["breakers"].items():
            g.add_metric([provider], 1.0 if is_open else 0.0)
        yield g
        sweep = s["sweep"]
        if sweep is not None:
            yield GaugeMetricFamily("weft_sweep_last_run_timestamp_seconds", "When the last sweep ran",
                                    value=sweep["started_at"].timestamp())
            yield GaugeMetricFamily("weft_sweep_last_duration_seconds", "How long the last sweep took",
                                    value=(sweep["finished_at"] - sweep["started_at"]).total_seconds())
            g = GaugeMetricFamily("weft_sweep_last_count", "What the last sweep handled: lost attempts (lease "
                                  "recoveries), re-sent tasks, stopped jobs, pruned jobs ...", labels=["kind"])
            for kind, n in sorted((sweep["counts"] or {}).items()):
                g.add_metric([kind], n)
            yield g
            yield GaugeMetricFamily("weft_sweep_last_failed", "1 if a step of the last sweep failed",
                                    value=1.0 if sweep["error"] else 0.0)


def view(request: HttpRequest) -> HttpResponse:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            return HttpResponse("metrics need the bearer token (WEFT_METRICS_TOKEN)\n", status=401,
                                content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(reports.metrics_snapshot()))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
