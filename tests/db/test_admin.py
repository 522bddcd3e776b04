"""The admin pages render for a job with attempts and decisions (its tasks bounded), its actions use the engine
under the rules of weft_django.access (cancelling needs weft.cancel_job, seeing others' jobs weft.view_all_jobs)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.perms import member
from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Decision, Job, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def test_admin__pages_render(staff: Client) -> None:
    job = service.submit("t.flaky", {"succeed_on": 1}, queue="weft-inprocess-tests")
    execute(Task.objects.get(job=job).pk, 0)
    for url in ("/admin/weft/job/", f"/admin/weft/job/{job.pk}/change/", "/admin/weft/task/",
                "/admin/weft/attempt/", "/admin/weft/decision/", "/admin/weft/worker/", "/admin/weft/skill/"):
        response = staff.get(url)
        assert response.status_code == 200, url
    for after in ("%C2%B2", "-1", "99999999999999999999999", "%00"):  # "²" was a 500: str.isdigit, then int()
        assert staff.get(f"/admin/weft/job/{job.pk}/change/?after={after}").status_code == 200, after
    page = staff.get(f"/admin/weft/job/{job.pk}/change/").content.decode()
    assert "every task succeeded" in page
    assert "View job" in page and "<select" not in page and "<textarea" not in page  # a view, not a form


def test_admin__cancel_action_cancels_through_the_engine(staff: Client) -> None:
    job = service.submit("t.noop")
    response = staff.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
    assert response.status_code == 200
    assert "1 job cancelled." in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert Task.objects.get(job=job).status == "cancelled"


def test_admin__runtime_rows_are_read_only(staff: Client) -> None:
    job = service.submit("t.noop")
    assert staff.get("/admin/weft/job/add/").status_code == 403
    assert staff.post(f"/admin/weft/job/{job.pk}/delete/", {"post": "yes"}).status_code == 403
    task = Task.objects.get(job=job)
    assert staff.post(f"/admin/weft/task/{task.pk}/change/", {"status": "succeeded"}).status_code == 403
    assert Task.objects.get(pk=task.pk).status == "queued"


def test_admin__disabling_a_skill_stops_new_submissions(staff: Client) -> None:
    from weft_django import registry
    from weft_django.exceptions import SkillDisabled
    from weft_django.models import Skill

    registry.sync()
    skill = Skill.objects.get(name="t.noop")
    assert staff.get("/admin/weft/skill/add/").status_code == 403
    assert staff.post(f"/admin/weft/skill/{skill.pk}/delete/", {"post": "yes"}).status_code == 403
    # Only "enabled" is the operator's: the definition lives in code, so the form leaves the rest alone.
    response = staff.post(f"/admin/weft/skill/{skill.pk}/change/", {"queue": "elsewhere"})  # enabled unticked
    assert response.status_code == 302
    skill.refresh_from_db()
    assert (skill.enabled, skill.queue) == (False, "")
    with pytest.raises(SkillDisabled):
        service.submit("t.noop")
    staff.post(f"/admin/weft/skill/{skill.pk}/change/", {"enabled": "on"})
    assert Skill.objects.get(pk=skill.pk).enabled
    assert Job.objects.filter(pk=service.submit("t.noop").pk).exists()


def logged_in(u: User) -> Client:
    c = Client()
    c.force_login(u)
    return c


def test_admin__cancelling_needs_cancel_job_or_change_job_not_only_view(client: Client) -> None:
    bob = member("bob")
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop"}, {"key": "b", "skill": "t.noop"}]}, owner=bob)
    task = Task.objects.get(job=job, key="a")
    viewer = logged_in(member("viewer", "weft.view_job", "weft.view_task", "weft.view_all_jobs", staff=True))

    assert viewer.get(f"/admin/weft/job/{job.pk}/change/").status_code == 200  # he may look
    viewer.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
    viewer.post("/admin/weft/task/", {"action": "cancel_tasks", "_selected_action": [task.pk]}, follow=True)
    assert Job.objects.get(pk=job.pk).status == "running" and Task.objects.get(pk=task.pk).status == "queued"
    assert not Decision.objects.filter(job=job, action="cancel").exists()

    changer = logged_in(member("changer", "weft.view_task", "weft.change_job", "weft.view_all_jobs", staff=True))
    r = changer.post("/admin/weft/task/", {"action": "cancel_tasks", "_selected_action": [task.pk]}, follow=True)
    assert "1 task cancelled." in r.content.decode()
    ops = logged_in(member("ops", "weft.view_job", "weft.cancel_job", "weft.view_all_jobs", staff=True))
    r = ops.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True)
    assert "1 job cancelled." in r.content.decode()
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert list(Decision.objects.filter(job=job, action="cancel").order_by("pk").values_list("reason", flat=True)) == [
        "cancelled by changer", "cancelled by ops"]


def test_admin__without_view_all_jobs_staff_see_their_own_jobs_only() -> None:
    bob = member("bob")
    theirs = service.submit("t.flaky", {"succeed_on": 1}, queue="weft-inprocess-tests", owner=bob)
    execute(Task.objects.get(job=theirs).pk, 0)
    perms = ("weft.view_job", "weft.view_task", "weft.view_attempt", "weft.view_decision", "weft.cancel_job")
    staffer = member("staffer", *perms, staff=True)
    mine = service.submit("t.noop", owner=staffer)
    c = logged_in(staffer)

    assert list(c.get("/admin/weft/job/").context["cl"].result_list) == [mine]
    assert c.get(f"/admin/weft/job/{theirs.pk}/change/").status_code == 302  # "does not exist": back to the index
    for model in ("task", "attempt", "decision"):
        rows = c.get(f"/admin/weft/{model}/").context["cl"].result_list
        assert {r.job_id for r in rows} <= {mine.pk}, model
    c.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [theirs.pk, mine.pk]})
    assert Job.objects.get(pk=theirs.pk).status == "succeeded" and Job.objects.get(pk=mine.pk).status == "cancelled"

    everyone = logged_in(member("everyone", *perms, "weft.view_all_jobs", staff=True))
    assert {j.pk for j in everyone.get("/admin/weft/job/").context["cl"].result_list} == {mine.pk, theirs.pk}


def test_admin__a_job_of_3000_tasks_shows_the_first_ones_and_links_to_the_rest(
        staff: Client, django_assert_max_num_queries: Any) -> None:
    from weft_django.reports.pages import TASKS_PER_PAGE

    job = service.submit("t.noop", queue="weft-inprocess-tests")
    tasks = Task.objects.bulk_create(Task(job=job, key=f"k{i:05}", skill_name="t.noop", skill_version="1",
                                          queue="weft-inprocess-tests") for i in range(3000))
    Decision.objects.bulk_create(Decision(job=job, task=t, action="enqueue", reason="ready") for t in tasks)
    Job.objects.filter(pk=job.pk).update(tasks_total=3001, tasks_open=3001)

    with django_assert_max_num_queries(30):
        r = staff.get(f"/admin/weft/job/{job.pk}/change/")
    assert r.status_code == 200
    page = r.content.decode()
    assert len(page) < 150_000, len(page)  # about 5 MB when every task was a row
    assert "k00000" in page and f"k{TASKS_PER_PAGE - 2:05}" in page and "k02999" not in page
    link = f"/admin/weft/task/?job__id__exact={job.pk}"
    assert link in page
    listed = staff.get(link)
    assert listed.status_code == 200 and listed.context["cl"].result_count == 3001
    decisions = f"/admin/weft/decision/?job__id__exact={job.pk}"  # the explanation is cut too: the rest is there
    assert decisions in page and staff.get(decisions).context["cl"].result_count >= 3000


def test_admin__a_job_shows_its_token_budget_and_use(staff: Client) -> None:
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop"}], "budget": {"max_tokens": 100_000}})
    Job.objects.filter(pk=job.pk).update(tokens=41_200)
    page = staff.get(f"/admin/weft/job/{job.pk}/change/").content.decode()
    assert "41,200 of 100,000 tokens used" in page
    assert "Budget: 41,200 of 100,000 tokens used" in page  # in the explanation too


def test_admin__job_search_finds_a_job_by_its_tasks_errors_within_what_one_sees(staff: Client) -> None:
    broken = service.submit("t.fatal", queue="weft-inprocess-tests")
    execute(Task.objects.get(job=broken).pk, 0)
    fine = service.submit("t.noop", queue="weft-inprocess-tests")
    error = Task.objects.get(job=broken).error
    assert error
    term = error.split()[-1][:12]
    page = staff.get("/admin/weft/job/", {"q": term}).content.decode()
    assert f'href="/admin/weft/job/{broken.pk}/change/' in page
    assert f'href="/admin/weft/job/{fine.pk}/change/' not in page
    by_name = staff.get("/admin/weft/job/", {"q": fine.name}).content.decode()
    assert f'href="/admin/weft/job/{fine.pk}/change/' in by_name
    theirs = Client()
    theirs.force_login(member("other", "weft.view_job", staff=True))  # not view_all_jobs: sees only their own
    r = theirs.get("/admin/weft/job/", {"q": term})
    assert r.status_code == 200 and f'/admin/weft/job/{broken.pk}/change/' not in r.content.decode()


def test_admin__a_nul_in_a_list_parameter_is_the_admins_error_page_not_a_500(staff: Client) -> None:
    from django.contrib import admin

    service.submit("t.noop")
    weft = [m for m in admin.site._registry if m._meta.app_label == "weft"]
    assert len(weft) >= 10
    for model in weft:
        url = f"/admin/weft/{model._meta.model_name}/"
        field = next((f.name for f in model._meta.fields if f.get_internal_type() in ("CharField", "TextField")), "id")
        for query in (f"?{field}=%00", "?q=%00", "?%00=1"):  # a filter's value (was a 500 for status, worker...)
            response = staff.get(url + query)
            assert response.status_code in (200, 302), (url + query, response.status_code)


@pytest.mark.parametrize(("model", "data", "field"), [
    ("subscription", {"name": "s", "events": '["job.failed"]', "skills": "[]", "labels": '{"team": "\\ud800"}',
                      "target": "https://a.example", "secret": ""}, "labels"),
    ("policy", {"name": "p", "enabled": "on", "reason": "r", "match": '{"skill": "\\ud800"}', "effects": "{}"},
     "match"),
    ("schedule", {"name": "n", "spec": '{"skill": "t.noop", "params": {"x": "\\udfff"}}', "every_seconds": "60",
                  "cron": "", "overlap": "skip", "enabled": "on"}, "spec"),
])
def test_admin__a_lone_surrogate_typed_into_a_json_field_is_shown_back_with_the_forms_error(
        staff: Client, model: str, data: dict[str, str], field: str) -> None:
    from django.apps import apps

    before = apps.get_model("weft", model).objects.count()
    response = staff.post(f"/admin/weft/{model}/add/", data)  # was a 500: the page could not be encoded

    assert response.status_code == 200
    assert response.context["adminform"].form.errors, "the form must refuse it"
    assert "\\ud800" in response.content.decode() or "\\udfff" in response.content.decode()
    assert apps.get_model("weft", model).objects.count() == before
