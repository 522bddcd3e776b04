"""Analytics over a time range: per skill (success rate, loops' iterations to success, tokens and cost) and per
model; from reports and the HTTP API, which needs weft.view_all_jobs; bad windows refused naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from tests.perms import member
from weft_django import reports, service
from weft_django.exceptions import InvalidInput
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import ledger, report
from weft_django.models import Job, Task
from weft_django.outcomes import Observation, Outcome

pytestmark = pytest.mark.django_db


def finish(skill: str, ok: bool) -> Task:
    job = service.submit(skill, {"a": 1, "b": 2} if skill == "t.add" else {}, retry={"max_attempts": 1})
    task = Task.objects.get(job=job)
    c = claiming.claim(task.pk, 0)
    assert c is not None
    report.record(c, Observation(Outcome.success(1) if ok else Outcome.failure("no", retryable=False),
                                 "succeeded" if ok else "failed"))
    return task


def iterations(task: Task, passed_at: int | None, tokens: int) -> None:
    Task.objects.filter(pk=task.pk).update(status="running", attempts=1,
                                           lease_expires_at=timezone.now() + timedelta(minutes=5))
    for n in range(1, (passed_at or 3) + 1):
        assert ledger.write_iteration(task.pk, 1, number=n, of=5, job_id=task.job_id, attempt_id=None, summary="",
                                      passed=n == passed_at, validation="", tokens=tokens, cost=0.01)


def test_analytics__per_skill_and_per_model() -> None:
    for ok in (True, True, True, False):
        finish("t.add", ok)
    looped = [finish("t.noop", True) for _ in range(3)]
    iterations(looped[0], 2, 100)
    iterations(looped[1], 4, 100)
    iterations(looped[2], None, 100)  # never passed (3 iterations)
    ledger.write_llm_call(provider="openai", model="m1", input_tokens=1000, output_tokens=500, cost=0.01,
                          job_id=looped[0].job_id, task_id=looped[0].pk, attempt_id=None, retries=0, error="")
    ledger.write_llm_call(provider="openai", model="m1", input_tokens=0, output_tokens=0, cost=0.0,
                          job_id=looped[1].job_id, task_id=looped[1].pk, attempt_id=None, retries=5, error="429")
    Job.objects.filter(pk=looped[0].job_id).update(tokens=1500, cost=0.02)  # what counted against its budget
    a = reports.analytics()
    assert a["jobs"] == 7
    assert a["skills"]["t.add"] == {"tasks": 4, "jobs": 4, "succeeded": 3, "failed": 1, "success_rate": 0.75,
                                    "tokens_per_job": 0.0, "cost_per_job": 0.0}
    assert (a["skills"]["t.noop"]["tokens_per_job"], a["skills"]["t.noop"]["cost_per_job"]) == (500.0, 0.006667)
    loops = a["skills"]["t.noop"]["loops"]
    assert (loops["loops"], loops["passed"], loops["iterations_to_success"]) == (3, 2, 3.0)  # (2 + 4) / 2
    assert loops["tokens_per_loop"] == 300.0
    assert a["models"]["m1"] == {"calls": 2, "input_tokens": 1000, "output_tokens": 500, "cost": 0.01,
                                 "failed_calls": 1, "mean_seconds": 0.0, "jobs": 2, "tokens_per_job": 750.0,
                                 "cost_per_job": 0.005}
    assert a["tokens_per_job"] == round(1500 / 7, 1)
    assert reports.analytics(since=timezone.now() - timedelta(days=3), until=timezone.now() - timedelta(days=2))[
        "jobs"] == 0


@pytest.mark.parametrize("since,until,field", [
    ("yesterday", None, "since"),
    (None, "2026-13-01", "until"),
    ("2026-01-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00", "since"),
    ("2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "since"),  # more than 31 days
])
def test_a_bad_window_is_refused_naming_the_field(since: Any, until: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        reports.analytics(since, until)
    assert info.value.field == field


def test_the_api_needs_view_all_jobs(client: Client) -> None:
    finish("t.add", True)
    user = User.objects.create_user("u", password="pw")
    client.force_login(user)
    assert client.get("/api/weft/analytics/").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_all_jobs"))
    client.force_login(User.objects.get(pk=user.pk))
    answer = client.get("/api/weft/analytics/")
    assert answer.status_code == 200 and answer.json()["skills"]["t.add"]["success_rate"] == 1.0
    bad = client.get("/api/weft/analytics/", {"since": "soon"})
    assert (bad.status_code, bad.json()["field"]) == (400, "since")


def test_the_analytics_page_shows_a_window_the_user_chooses_to_staff_who_see_every_job() -> None:
    finish("t.add", True)
    looped = finish("t.noop", True)
    iterations(looped, 2, 100)
    ledger.write_llm_call(provider="openai", model="m1", input_tokens=60, output_tokens=40, cost=0.5,
                          job_id=looped.job_id, task_id=looped.pk, attempt_id=None, retries=0, error="")
    staff = Client()
    staff.force_login(User.objects.create_user("staffer", is_staff=True))
    assert staff.get("/weft/analytics/").status_code == 403  # staff alone sees no other user's job
    ops = Client()
    ops.force_login(member("ops", "weft.view_all_jobs", "weft.view_job", staff=True))
    page = ops.get("/weft/analytics/").content.decode()
    assert "2 jobs created from" in page
    skills = page[page.index('id="analytics-skills"'):page.index('id="analytics-models"')]
    add, noop = skills[skills.index("<td>t.add</td>"):], skills[skills.index("<td>t.noop</td>"):]
    assert "<td>100 %</td>" in add[:add.index("</tr>")]
    assert "<td>2.0</td><td>200.0</td></tr>" in noop  # iterations to success, tokens per loop
    models = page[page.index('id="analytics-models"'):]
    assert "<td>m1</td>" in models and "<td>0.5</td>" in models
    old = ops.get("/weft/analytics/", {"since": (timezone.now() - timedelta(days=3)).isoformat(),
                                       "until": (timezone.now() - timedelta(days=2)).isoformat()}).content.decode()
    assert "0 jobs created from" in old and "No jobs in this window." in old
    bad = ops.get("/weft/analytics/", {"since": "soon"})
    assert bad.status_code == 200 and "since: must be an ISO 8601 time, got &#x27;soon&#x27;" in bad.content.decode()
    jobs = ops.get("/admin/weft/job/").content.decode()  # linked from the admin's job list
    assert 'href="/weft/analytics/" id="weft-analytics-link"' in jobs
