"""The operators' dashboard (``weft_django.urls``): what runs, waits, failed; workers; the last sweep."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.perms import member
from tests.test_sweep import running
from weft_django import reports, service, sweep, workers
from weft_django.models import Task

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

    r = staff_client().get("/weft/")

    assert r.status_code == 200
    html = r.content.decode()
    assert '<meta http-equiv="refresh" content="5">' in html
    o = r.context["running"]
    assert [t["task"] for t in o] == [busy.task_id] and o[0]["worker"] == "w1@test"
    assert [t["pk"] for t in r.context["awaiting_approval"]] == [waiting.pk]
    assert [j["pk"] for j in r.context["recent_failures"]] == [refused.job_id]
    assert f'/admin/weft/job/{refused.job_id}/change/' in html
    assert "w9@host" in html and "4242" in html
    assert r.context["last_sweep"] is not None
    assert '<strong id="awaiting-count">1</strong>' in html


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
