"""Finished work counted by the database as it happens (tallies.py): the Prometheus counters of tasks finished
by skill and status and attempts by outcome, parsed by prometheus-client's parser; the sweep's folding keeps
the table small without changing a counter; the dashboard's last hour per skill is drawn from the same rows."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.perms import member
from weft_django import metrics, reports, service, tallies
from weft_django.execution.runner import execute
from weft_django.models import Tally, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"


def counters() -> dict[str, dict[tuple[str, str], float]]:
    text = metrics.view(RequestFactory().get("/metrics")).content.decode()
    out: dict[str, dict[tuple[str, str], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in ("weft_tasks_finished_total", "weft_attempts_finished_total"):
                label = s.labels.get("status") or s.labels["outcome"]
                out.setdefault(s.name, {})[(s.labels["skill"], label)] = s.value
    return out


def run(job_id: int) -> None:
    task = Task.objects.get(job_id=job_id)
    execute(task.pk, task.attempts)


def test_every_way_work_finishes_is_counted_by_skill_status_and_outcome(settings: Any) -> None:
    settings.WEFT_FAST_PATH = True  # the single-statement success counts as the ORM's does
    run(service.submit("t.noop", queue=INPROC).pk)
    run(service.submit("t.noop", queue=INPROC).pk)
    run(service.submit("t.fatal", queue=INPROC).pk)
    flaky = service.submit("t.flaky", {"succeed_on": 2}, queue=INPROC)
    run(flaky.pk)  # fails once, retried (queued again): an attempt, no finished task yet
    service.cancel(service.submit_job({"tasks": [{"key": f"k{i}", "skill": "t.add", "params": {"a": 1, "b": i},
                                                  "queue": INPROC} for i in range(3)]}).pk)  # a bulk update
    c = counters()
    assert c["weft_tasks_finished_total"] == {("t.noop", "succeeded"): 2, ("t.fatal", "failed"): 1,
                                              ("t.add", "cancelled"): 3}
    assert c["weft_attempts_finished_total"] == {("t.noop", "succeeded"): 2, ("t.fatal", "failed"): 1,
                                                 ("t.flaky", "failed"): 1}
    assert Tally.objects.filter(kind="task").count() == 6  # a row each, merged by the sweep
    assert tallies.compact() == 10 and Tally.objects.filter(kind="task").count() == 3
    assert counters() == c


def test_folding_old_minutes_keeps_every_counter_and_drops_old_samples() -> None:
    run(service.submit("t.noop", queue=INPROC).pk)
    before = counters()
    old = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=tallies.KEEP_MINUTES + 5)
    for i in range(3):
        Tally.objects.create(minute=old - timedelta(minutes=i), skill="t.noop", kind="task", value="succeeded",
                             n=10)
        Tally.objects.create(minute=old - timedelta(minutes=i), skill="t.noop", kind="queued", value="", n=7)
    assert tallies.compact() == 8  # the six old ones and this minute's two (the task and its attempt)
    assert tallies.compact() == 0
    after = counters()
    assert after["weft_tasks_finished_total"][("t.noop", "succeeded")] == (
        before["weft_tasks_finished_total"][("t.noop", "succeeded")] + 30)
    assert not Tally.objects.filter(minute__lt=timezone.now() - timedelta(minutes=tallies.KEEP_MINUTES),
                                    minute__gt=tallies.EPOCH).exists()
    assert Tally.objects.filter(minute=tallies.EPOCH).count() == 1


def test_the_dashboard_draws_the_last_hour_per_skill() -> None:
    run(service.submit("t.noop", queue=INPROC).pk)
    run(service.submit("t.fatal", queue=INPROC).pk)
    service.submit("t.add", {"a": 1, "b": 2}, queue=INPROC)
    service.submit("t.add", {"a": 1, "b": 3}, queue=INPROC)
    tallies.sample_queued()
    rows = {r["skill"]: r for r in reports.dashboard()["chart"]}
    assert (rows["t.noop"]["finished"], rows["t.noop"]["failure_rate"]) == (1, 0.0)
    assert (rows["t.fatal"]["finished"], rows["t.fatal"]["failure_rate"]) == (1, 100.0)
    assert (rows["t.add"]["queued_now"], rows["t.add"]["finished"]) == (2, 0)
    assert rows["t.noop"]["throughput_path"].startswith("M177")  # this minute: the rightmost bar
    c = Client()
    c.force_login(member("ops", "weft.view_all_jobs", staff=True))
    body = c.get("/weft/?part=body").content.decode()
    assert re.search(r'<tr data-skill="t.fatal">.*?100.0 % \(1 failed\)', body, re.S), body
    assert "<script" not in body and "http" not in body.split('id="chart"')[1].split("</table>")[0]  # offline


def test_a_bulk_cancel_of_many_tasks_is_counted_quickly() -> None:
    job = service.submit_job({"tasks": [{"key": f"k{i}", "skill": "t.noop", "queue": INPROC} for i in range(5000)]})
    started = time.monotonic()
    service.cancel(job.pk)
    took = time.monotonic() - started
    assert counters()["weft_tasks_finished_total"][("t.noop", "cancelled")] == 5000
    assert took < 10, took  # an upsert of one row per skill made this quadratic (minutes)
