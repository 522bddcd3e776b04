"""Schedules: saved in the admin, they install the beat PeriodicTask that fires them; each run submits the
spec labelled with the schedule; overlap "skip" skips while the last run goes on; a bad schedule is refused
naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_celery_beat.models import PeriodicTask

from weft_django import service
from weft_django.exceptions import InvalidInput
from weft_django.models import Job, Schedule
from weft_django.tasks import scheduled

pytestmark = pytest.mark.django_db

SPEC = {"tasks": [{"key": "add", "skill": "t.add", "params": {"a": 1, "b": 2}}]}


def admin_client() -> Client:
    c = Client()
    c.force_login(User.objects.create_superuser("root", password="pw"))
    return c


def test_saved_in_the_admin_it_installs_its_periodic_task_and_runs_with_its_overlap_rule() -> None:
    c = admin_client()
    answer = c.post("/admin/weft/schedule/add/", {
        "name": "nightly", "spec": '{"tasks": [{"key": "add", "skill": "t.add", "params": {"a": 1, "b": 2}}]}',
        "every_seconds": "60", "cron": "", "overlap": "skip", "enabled": "on"})
    assert answer.status_code == 302, answer.content.decode()[:2000]
    s = Schedule.objects.get(name="nightly")
    task = PeriodicTask.objects.get(name=f"weft-schedule-{s.pk}")
    assert task.interval is not None
    assert (task.task, task.args, task.interval.every, task.enabled) == ("weft_django.scheduled", f"[{s.pk}]", 60,
                                                                         True)

    first = scheduled.run(s.pk)  # as beat would send it
    assert first is not None
    job = Job.objects.get(pk=first)
    assert job.labels == {"schedule": "nightly"} and job.status == "running"
    assert scheduled.run(s.pk) is None  # the last run is still going: skipped
    s.refresh_from_db()
    assert (s.runs, s.skipped, s.last_job_id) == (1, 1, first)
    Job.objects.filter(pk=first).update(status="succeeded")
    assert scheduled.run(s.pk) not in (None, first)

    Schedule.objects.filter(pk=s.pk).update(overlap="queue")
    assert scheduled.run(s.pk) is not None  # runs may overlap now

    c.post(f"/admin/weft/schedule/{s.pk}/delete/", {"post": "yes"})
    assert not PeriodicTask.objects.filter(name=f"weft-schedule-{s.pk}").exists()


def test_a_cron_schedule_installs_a_crontab() -> None:
    s = Schedule.objects.create(name="quarterly", spec=SPEC, cron="*/15 2 * * 1-5")
    service.install_schedule(s)
    crontab = PeriodicTask.objects.get(name=f"weft-schedule-{s.pk}").crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("*/15", "2", "1-5")


@pytest.mark.parametrize("fields,field", [
    ({"spec": {"tasks": []}, "every_seconds": 60}, "tasks"),
    ({"spec": {"tasks": [{"key": "a", "skill": "t.add", "params": "x"}]}, "every_seconds": 60}, "tasks[0].params"),
    ({"spec": SPEC}, "every_seconds"),  # neither
    ({"spec": SPEC, "every_seconds": 60, "cron": "* * * * *"}, "every_seconds"),  # both
    ({"spec": SPEC, "every_seconds": 0}, "every_seconds"),
    ({"spec": SPEC, "cron": "every day"}, "cron"),
    ({"spec": SPEC, "cron": "* * *"}, "cron"),
])
def test_a_schedule_that_could_never_run_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        service.check_schedule(fields)
    assert info.value.field == field


def test_the_admin_form_names_the_field() -> None:
    c = admin_client()
    answer = c.post("/admin/weft/schedule/add/", {"name": "bad", "spec": '{"tasks": []}', "every_seconds": "60",
                                                  "cron": "", "overlap": "skip", "enabled": "on"})
    assert answer.status_code == 200
    assert "spec" in answer.context["adminform"].form.errors  # the page says which field, and why
    assert "tasks" in str(answer.context["adminform"].form.errors["spec"])
    assert not Schedule.objects.exists()
