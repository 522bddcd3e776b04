"""Skill versions side by side: a submission may pin one (``"x@2"`` or ``version=``); without a pin the newest
enabled version runs; a task keeps the version it was submitted with."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from weft_django import registry, service
from weft_django.exceptions import SkillDisabled, UnknownSkill
from weft_django.execution.runner import execute
from weft_django.models import Skill, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"  # no worker reads it: execute() below plays the worker



def version_of(job_id: int) -> str:
    return Task.objects.get(job_id=job_id).skill_version


def disable(version: str) -> None:
    registry.sync()
    Skill.objects.filter(name="t.greet", version=version).update(enabled=False)


def test_unpinned_runs_the_newest_enabled_version_and_a_pin_runs_its_own() -> None:
    assert version_of(service.submit("t.greet", queue=INPROC).pk) == "2"
    assert version_of(service.submit("t.greet@1", queue=INPROC).pk) == "1"
    assert version_of(service.submit("t.greet", version="1", queue=INPROC).pk) == "1"
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.greet", "version": "1", "queue": INPROC},
                                        {"key": "b", "skill": "t.greet", "queue": INPROC}]})
    assert dict(Task.objects.filter(job=job).values_list("key", "skill_version")) == {"a": "1", "b": "2"}
    disable("2")
    assert version_of(service.submit("t.greet", queue=INPROC).pk) == "1"  # the newest one still enabled


def test_a_pin_to_a_disabled_or_unknown_version_is_refused_at_submission_naming_the_field() -> None:
    disable("2")
    before = Task.objects.count()
    with pytest.raises(SkillDisabled) as off:
        service.submit("t.greet@2", queue=INPROC)
    assert off.value.field == "skill"
    with pytest.raises(SkillDisabled) as off_in_job:
        service.submit_job({"tasks": [{"key": "a", "skill": "t.greet", "version": "2"}]})
    assert off_in_job.value.field == "tasks[0].skill"
    with pytest.raises(UnknownSkill) as unknown:
        service.submit("t.greet", version="7", queue=INPROC)
    assert (unknown.value.field, unknown.value.message) == (
        "version", "unknown skill 't.greet@7' (registered versions: 2, 1)")
    Skill.objects.filter(name="t.greet").update(enabled=False)
    with pytest.raises(SkillDisabled) as every:
        service.submit("t.greet", queue=INPROC)
    assert every.value.field == "skill"
    assert Task.objects.count() == before  # nothing half-written


def test_a_task_keeps_its_version_after_a_newer_registers_or_its_own_is_disabled(clean_registry: None) -> None:
    kept = service.submit("t.greet", {"who": "ops"}, queue=INPROC)
    registry.skill(name="t.greet", version="3")(lambda who="": f"hello {who} (v3)")
    assert version_of(service.submit("t.greet", queue=INPROC).pk) == "3"
    disable("2")  # after its submission: the task already has it, and runs it
    execute(Task.objects.get(job=kept).pk, 0)
    task = Task.objects.get(job=kept)
    assert (task.status, task.skill_version, task.result) == ("succeeded", "2", "hello ops (v2)")


def test_the_api_and_weft_run_take_the_version_option() -> None:
    user = User.objects.create_superuser("root", "r@example.com", "pw")
    api = APIClient()
    api.force_authenticate(user)
    r = api.post("/api/weft/jobs/", {"skill": "t.greet", "version": "1", "queue": INPROC}, format="json")
    assert r.status_code == 201, r.content
    assert version_of(r.json()["id"]) == "1"
    r = api.post("/api/weft/jobs/", {"skill": "t.greet", "version": "9", "queue": INPROC}, format="json")
    assert (r.status_code, r.json()["field"]) == (400, "version")
    assert "version" in api.get("/api/weft/schema/?format=json").json()["components"]["schemas"][
        "TaskSubmission"]["properties"]

    from io import StringIO

    from django.core.management import call_command
    out = StringIO()
    call_command("weft_run", "t.greet", "--skill-version", "1", "--queue", INPROC, stdout=out)
    assert version_of(int(out.getvalue())) == "1"
