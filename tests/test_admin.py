"""The admin pages render for a job with attempts and decisions, and its cancel action uses the engine."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from weft_django import service
from weft_django.execution.runner import execute
from weft_django.models import Job, Task

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
