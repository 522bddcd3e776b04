"""Running a job again: a new job from the old one's submitted tasks, through the Python API, HTTP and the admin."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import reports, service
from weft_django.exceptions import NotAllowed, SkillDisabled, UnknownId
from weft_django.execution.runner import execute
from weft_django.management import cli
from weft_django.models import Dependency, Job, Skill, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"
DAG = {"name": "nightly", "budget": {"max_attempts": 9, "deadline": 600}, "labels": {"team": "data"}, "tasks": [
    {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}, "queue": INPROC, "priority": 2},
    {"key": "b", "skill": "t.add", "params": {"a": 3, "b": 4}, "queue": INPROC, "timeout": 30},
    {"key": "c", "skill": "t.sum_deps", "depends_on": ["a", "b"], "queue": INPROC},
]}


def shape(job: Job) -> list[Any]:
    tasks = Task.objects.filter(job=job).order_by("key")
    deps = {(d.upstream.key, d.downstream.key) for d in Dependency.objects.filter(downstream__job=job)
            .select_related("upstream", "downstream")}
    return [(t.key, t.skill_name, t.params, t.limits, t.retry, t.timeout, t.queue, t.priority) for t in tasks] + [
        sorted(deps)]


def test_rerun__a_new_job_with_the_same_tasks_dependencies_budget_and_owner() -> None:
    ada = User.objects.create_user("ada")
    old = service.submit_job(DAG, owner=ada)
    for t in Task.objects.filter(job=old, key__in=["a", "b"]).order_by("key"):
        execute(t.pk, 0)
    service.cancel(old.pk)
    old.refresh_from_db()

    new = service.rerun(old.pk)

    assert new.pk != old.pk and new.status == "running" and old.status == "cancelled"
    assert (new.name, new.owner, new.max_attempts) == ("nightly", ada, 9)
    assert new.labels == {"team": "data", "rerun_of": old.pk}
    assert new.deadline is not None and abs((new.deadline - timezone.now()) - timedelta(seconds=600)) < timedelta(
        seconds=30)
    assert shape(new) == shape(old)
    assert dict(Task.objects.filter(job=new).values_list("key", "status")) == {
        "a": "queued", "b": "queued", "c": "pending"}


def test_rerun__leaves_out_tasks_made_at_run_time() -> None:
    old = service.submit("t.split", {"n": 3}, queue=INPROC)
    execute(Task.objects.get(job=old).pk, 0)  # decomposes into 3 children
    assert Task.objects.filter(job=old).count() == 4

    spec = reports.job_spec(old.pk)
    assert [t["key"] for t in spec["tasks"]] == ["t.split"]
    new = service.rerun(old.pk)
    assert list(Task.objects.filter(job=new).values_list("key", "params")) == [("t.split", {"n": 3})]


def test_rerun__of_a_skill_disabled_since_is_refused_and_writes_nothing() -> None:
    old = service.submit("t.noop", queue=INPROC)
    Skill.objects.create(name="t.noop", version="1", kind="python", target="tests.testapp.skills.noop",
                         enabled=False)
    with pytest.raises(SkillDisabled):
        service.rerun(old.pk)
    assert Job.objects.count() == 1


def test_rerun__over_http_for_the_owner_with_the_permission_only() -> None:
    run = Permission.objects.get(content_type__app_label="weft", codename="run_skill")
    ada, bob, cy = (User.objects.create_user(n) for n in ("ada", "bob", "cy"))
    ada.user_permissions.add(run)
    bob.user_permissions.add(run)
    old = service.submit_job(DAG, owner=cy)
    mine = service.submit_job(DAG, owner=ada)

    def client(u: User) -> APIClient:
        c = APIClient()
        c.force_authenticate(User.objects.get(pk=u.pk))
        return c

    assert client(bob).post(f"/api/weft/jobs/{mine.pk}/rerun/").status_code == 404  # not his
    assert client(cy).post(f"/api/weft/jobs/{old.pk}/rerun/").status_code == 403  # her job, no permission
    r = client(ada).post(f"/api/weft/jobs/{mine.pk}/rerun/")
    assert r.status_code == 201
    assert Job.objects.get(pk=r.json()["id"]).labels["rerun_of"] == mine.pk
    assert Job.objects.count() == 3


def test_rerun__admin_action(admin_client: Any) -> None:
    old = service.submit_job(DAG)
    r = admin_client.post("/admin/weft/job/", {"action": "rerun_jobs", "_selected_action": [old.pk]}, follow=True)
    assert r.status_code == 200
    [new] = Job.objects.exclude(pk=old.pk)
    assert f"Submitted again as job {new.pk}." in r.content.decode()
    assert new.labels == {"team": "data", "rerun_of": old.pk, "rerun_by": "admin"}


def rerun_in_admin(u: User, *jobs: Job) -> str:
    c = Client()
    c.force_login(u)
    r = c.post("/admin/weft/job/", {"action": "rerun_jobs", "_selected_action": [j.pk for j in jobs]}, follow=True)
    assert r.status_code == 200
    return r.content.decode()


def test_rerun__admin_action_checks_the_acting_users_permissions_and_makes_them_the_owner() -> None:
    bob = member("bob", "weft.run_skill", "testapp.run_restricted")
    guarded = service.submit("t.restricted", queue=INPROC, owner=bob)
    plain = service.submit_job(DAG, owner=bob)
    ops = member("ops", "weft.view_job", "weft.view_all_jobs", "weft.run_skill", staff=True)

    page = rerun_in_admin(ops, guarded, plain)
    assert "testapp.run_restricted" in page, page  # the skill's own permission, as over HTTP
    [new] = Job.objects.filter(labels__rerun_of__isnull=False)
    assert (new.labels["rerun_of"], new.owner) == (plain.pk, ops)  # the one who asked owns it
    assert f"Submitted again as job {new.pk}." in page

    runner = member("runner", "weft.view_job", "weft.view_all_jobs", staff=True)  # may not run skills
    rerun_in_admin(runner, plain)
    assert Job.objects.count() == 3


def test_service__rerun_by_a_user_is_checked_and_theirs() -> None:
    bob = member("bob", "weft.run_skill")
    old = service.submit("t.restricted", queue=INPROC, owner=bob)
    with pytest.raises(UnknownId):
        service.rerun(old.pk, by=member("eve", "weft.run_skill", "testapp.run_restricted"))  # not hers to see
    with pytest.raises(NotAllowed):
        service.rerun(old.pk, by=bob)  # his, but he may not run t.restricted
    assert Job.objects.count() == 1
    ops = member("ops", "weft.view_all_jobs", "weft.run_skill", "testapp.run_restricted")
    assert service.rerun(old.pk, by=ops).owner == ops
    assert service.rerun(old.pk).owner == bob  # no one named: the old job's owner, as before


def test_weft_rerun__with_user_is_checked_and_theirs() -> None:
    import io

    from django.core.management import CommandError, call_command

    ada = member("ada", "weft.run_skill")
    old = service.submit("t.noop", queue=INPROC, owner=member("bob"))
    with pytest.raises(CommandError) as exc:
        call_command("weft_rerun", str(old.pk), "--user", "ada", stdout=io.StringIO())
    assert exc.value.returncode == 2  # she does not see bob's job
    mine = service.submit("t.noop", queue=INPROC, owner=ada)
    out = io.StringIO()
    call_command("weft_rerun", str(mine.pk), "--user", "ada", stdout=out)
    assert Job.objects.get(pk=int(out.getvalue())).owner == ada


def test_weft_rerun__prints_the_new_job_and_says_when_there_is_none() -> None:
    import io

    from django.core.management import CommandError, call_command

    old = service.submit("t.noop", queue=INPROC)
    out = io.StringIO()
    call_command("weft_rerun", str(old.pk), stdout=out)
    new = Job.objects.get(pk=int(out.getvalue()))
    assert new.labels == {"rerun_of": old.pk, "rerun_by": cli.operator()}
    with pytest.raises(CommandError) as exc:
        call_command("weft_rerun", "999999999", stdout=io.StringIO())
    assert exc.value.returncode == 2
