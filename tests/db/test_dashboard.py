"""The operators' dashboard (``weft_django.urls``): what runs, waits, failed; workers; the last sweep."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pytest_django import Settings

from tests.db.test_sweep import running
from tests.perms import member
from weft_django import reports, service, sweep, workers
from weft_django.models import Task, Worker

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"


def staff_client() -> Client:
    c = Client()
    c.force_login(member("ops", "weft.view_all_jobs", staff=True))
    return c


def test_dashboard__needs_view_all_jobs_besides_staff() -> None:
    c = Client()
    c.force_login(User.objects.create_user("staffer", is_staff=True))  # is_staff alone sees no other user's job
    assert c.get("/weft/").status_code == 403
    assert staff_client().get("/weft/").status_code == 200


def test_dashboard__shows_running_waiting_failed_workers_and_the_sweep() -> None:
    busy = running()  # claimed by w1@test
    waiting = Task.objects.get(job=service.submit("t.guarded", queue=INPROC))
    refused = Task.objects.get(job=service.submit("t.guarded", queue=INPROC))
    service.reject(refused.pk, "not today")
    workers.online("w9@host", 4242, ["weft"])
    sweep.sweep()

    client = staff_client()
    r = client.get("/weft/")

    assert r.status_code == 200
    assert 'href="/weft/analytics/"' in r.content.decode()  # analytics, one click away
    html = r.content.decode()
    assert 'data-refresh="5"' in html and '<meta http-equiv="refresh"' not in html  # updated in place
    o = r.context["running"]
    assert [t["task"] for t in o] == [busy.task_id] and o[0]["worker"] == "w1@test"
    assert [t["pk"] for t in r.context["awaiting_approval"]] == [waiting.pk]
    assert [j["pk"] for j in r.context["recent_failures"]] == [refused.job_id]
    assert f'/admin/weft/job/{refused.job_id}/change/' in html
    assert "w9@host" in html and "4242" in html
    assert r.context["last_sweep"] is not None
    assert '<strong id="awaiting-count">1</strong>' in html
    assert r.context["recent_failures"][0]["cause"] == "task 't.guarded' was rejected by an operator: not today"
    r = client.get("/weft/", {"part": "body"})  # what the page fetches to update itself
    assert r.status_code == 200 and b"<html" not in r.content and b'id="awaiting-count">1<' in r.content


def test_dashboard__is_for_staff_only() -> None:
    assert Client().get("/weft/").status_code == 302  # to the admin's login
    c = Client()
    c.force_login(User.objects.create_user("user"))
    assert c.get("/weft/").status_code == 302


def test_overview__empty_tables() -> None:
    o: dict[str, Any] = reports.overview()
    assert (o["running"], o["queued"], o["awaiting_approval"], o["recent_jobs"], o["recent_failures"],
            o["workers"], o["last_sweep"]) == ([], 0, [], [], [], [], None)
    assert "Nothing is running." in staff_client().get("/weft/").content.decode()


def test_dashboard__warns_of_a_queue_with_queued_tasks_that_no_live_worker_reads(settings: Settings) -> None:
    settings.WEFT_QUEUES = ["weft", "gpu"]
    workers.online("w1@host", 11, ["weft"])
    on_weft = service.submit("t.add", {"a": 1, "b": 2})
    on_gpu = [service.submit("t.add", {"a": 1, "b": 2}, queue="gpu") for _ in range(2)]
    reason = "queued on 'gpu': no live worker reads it"

    client = staff_client()
    r = client.get("/weft/")

    assert r.context["unread_queues"] == [{"queue": "gpu", "queued": 2, "reason": reason}]
    assert r.context["queued"] == 3
    html = r.content.decode()
    assert 'id="unread-queues"' in html and "2 tasks queued on &#x27;gpu&#x27;: no live worker reads it" in html
    assert reports.status(on_gpu[0].pk)["waiting"] == [reason]
    assert f"Waiting: {reason}" in reports.explain(on_gpu[0].pk).splitlines()
    assert reports.status(on_weft.pk)["waiting"] == [] and "Waiting" not in reports.explain(on_weft.pk)
    out = io.StringIO()
    call_command("weft_status", str(on_gpu[0].pk), stdout=out)
    assert f"waiting: {reason}" in out.getvalue().splitlines()

    workers.online("gpu1@host", 12, ["gpu"])  # a worker reads it now
    assert reports.overview()["unread_queues"] == [] and reports.status(on_gpu[0].pk)["waiting"] == []
    assert 'id="unread-queues"' not in client.get("/weft/").content.decode()

    # Silent for longer than WEFT_WORKER_OFFLINE_AFTER (the sweep has not marked it offline yet), then offline.
    Worker.objects.filter(hostname="gpu1@host").update(last_heartbeat=timezone.now() - timedelta(seconds=600))
    assert [q["queue"] for q in reports.overview()["unread_queues"]] == ["gpu"]
    workers.online("gpu1@host", 12, ["gpu"])
    workers.offline("gpu1@host")
    assert reports.status(on_gpu[1].pk)["waiting"] == [reason]
    # Without WEFT_QUEUES the dashboard checks the queues it knows: the default one, the skills' and those
    # workers read (gpu1's row); a job's status names any queue.
    del settings.WEFT_QUEUES
    assert [q["queue"] for q in reports.overview()["unread_queues"]] == ["gpu"]
    adhoc = service.submit("t.add", {"a": 1, "b": 2}, queue="adhoc")
    assert reports.status(adhoc.pk)["waiting"] == ["queued on 'adhoc': no live worker reads it"]


def test_dashboard__shows_the_concurrency_slots_and_locks_in_use() -> None:
    from weft_django.lifecycle import claim as claiming

    limited = Task.objects.get(job=service.submit("t.limited", {"seconds": 0}))
    locked = Task.objects.get(job=service.submit("t.locked", {"path": "src/a.py"}))
    assert claiming.claim(limited.pk, 0) is not None and claiming.claim(locked.pk, 0) is not None
    r = staff_client().get("/weft/")
    [slot] = r.context["slots"]
    assert (slot["key"], slot["in_use"], slot["limit"], slot["tasks"]) == ("skill:t.limited", 1, 2, [limited.pk])
    assert r.context["locks"] == [{"lock": "repo:src/a.py", "task": locked.pk, "job": locked.job_id}]
    assert "repo:src/a.py" in r.content.decode()
