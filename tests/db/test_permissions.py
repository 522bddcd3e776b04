"""Who sees and cancels which jobs, over the HTTP API and through the service functions given an acting
user (``by=user``): ``weft.view_all_jobs`` (not ``is_staff``) sees every job, ``weft.cancel_job`` (or
``weft.change_job``) cancels other users' jobs, an owner their own; each cancel names who asked.

Approving, rejecting and running again are in tests/workers/test_approval.py and tests/db/test_rerun.py;
the admin in tests/db/test_admin.py.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import access, service
from weft_django.exceptions import NotAllowed, UnknownId
from weft_django.models import Decision, Job, Task

pytestmark = pytest.mark.django_db

API = "/api/weft"
INPROC = "weft-inprocess-tests"


def client(u: User) -> APIClient:
    c = APIClient()
    c.force_authenticate(u)
    return c


def job_of(owner: User | None) -> Job:
    return service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "queue": INPROC},
                                         {"key": "b", "skill": "t.noop", "queue": INPROC}]}, owner=owner)


def status(job: Job) -> str:
    return Job.objects.values_list("status", flat=True).get(pk=job.pk)


def cancel_reasons(job: Job) -> list[str]:
    return list(Decision.objects.filter(job=job, action="cancel").order_by("pk").values_list("reason", flat=True))


def test_permissions__each_is_declared_on_a_model() -> None:
    for perm in (access.RUN_SKILL, access.VIEW_ALL_JOBS, access.CANCEL_JOB, access.CHANGE_JOB, access.APPROVE_TASK):
        app_label, codename = perm.split(".")
        assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), perm


def test_api__staff_without_view_all_jobs_see_and_cancel_only_their_own() -> None:
    bob = member("bob")
    staffer = member("staffer", staff=True)
    bobs, own = job_of(bob), job_of(staffer)
    task = Task.objects.filter(job=bobs).first()
    assert task is not None
    c = client(staffer)

    assert [j["id"] for j in c.get(f"{API}/jobs/").json()["results"]] == [own.pk]
    for path in (f"jobs/{bobs.pk}/", f"jobs/{bobs.pk}/results/", f"jobs/{bobs.pk}/explain/", f"tasks/{task.pk}/"):
        assert c.get(f"{API}/{path}").status_code == 404, path
    assert c.post(f"{API}/jobs/{bobs.pk}/cancel/").status_code == 404
    assert c.post(f"{API}/tasks/{task.pk}/cancel/").status_code == 404
    assert status(bobs) == "running" and cancel_reasons(bobs) == []

    assert c.post(f"{API}/jobs/{own.pk}/cancel/").json() == {"cancelled": True}  # an owner needs no permission
    assert cancel_reasons(own) == ["cancelled by staffer"]


def test_api__view_all_jobs_reads_every_job_but_cancels_only_with_cancel_job() -> None:
    bob = member("bob")
    viewer = member("viewer", "weft.view_all_jobs")
    canceller = member("canceller", "weft.view_all_jobs", "weft.cancel_job")
    changer = member("changer", "weft.view_all_jobs", "weft.change_job")
    first, second, ownerless = job_of(bob), job_of(bob), job_of(None)
    task = Task.objects.get(job=second, key="a")

    assert {j["id"] for j in client(viewer).get(f"{API}/jobs/").json()["results"]} == {
        first.pk, second.pk, ownerless.pk}
    assert client(viewer).get(f"{API}/jobs/{first.pk}/results/").status_code == 200
    r = client(viewer).post(f"{API}/jobs/{first.pk}/cancel/")
    assert r.status_code == 403 and "weft.cancel_job" in r.json()["detail"]
    assert client(viewer).post(f"{API}/tasks/{task.pk}/cancel/").status_code == 403
    assert status(first) == "running" and Task.objects.get(pk=task.pk).status == "queued"

    assert client(canceller).post(f"{API}/jobs/{first.pk}/cancel/").json() == {"cancelled": True}
    assert client(changer).post(f"{API}/tasks/{task.pk}/cancel/").json() == {"cancelled": True}
    assert client(changer).post(f"{API}/jobs/{ownerless.pk}/cancel/").json() == {"cancelled": True}
    assert status(first) == "cancelled" and cancel_reasons(first) == ["cancelled by canceller"]
    assert Task.objects.get(pk=task.pk).status == "cancelled" and cancel_reasons(second) == ["cancelled by changer"]
    assert cancel_reasons(ownerless) == ["cancelled by changer"]


def test_service__cancel_by_a_user_follows_the_same_rules() -> None:
    bob, viewer = member("bob"), member("viewer", "weft.view_all_jobs")
    canceller = member("canceller", "weft.cancel_job")  # may cancel, but sees only their own jobs
    bobs = job_of(bob)
    task = Task.objects.get(job=bobs, key="a")

    with pytest.raises(UnknownId):
        service.cancel(bobs.pk, by=canceller)
    with pytest.raises(UnknownId):
        service.cancel_task(task.pk, by=canceller)
    with pytest.raises(NotAllowed):
        service.cancel(bobs.pk, by=viewer)
    with pytest.raises(NotAllowed):
        service.cancel_task(task.pk, by=viewer)
    assert status(bobs) == "running" and cancel_reasons(bobs) == []

    assert service.cancel_task(task.pk, by=bob) is True
    assert service.cancel(bobs.pk, by="the night shift") is True  # a name: a trusted caller's, recorded
    assert cancel_reasons(bobs) == ["cancelled by bob", "cancelled by the night shift"]
    assert service.cancel(job_of(None).pk) is True  # no one named: the Python API as before


def test_weft_cancel__with_user_follows_the_same_rules() -> None:
    bob = member("bob")
    member("viewer", "weft.view_all_jobs")
    bobs = job_of(bob)
    task = Task.objects.get(job=bobs, key="a")
    for argv, code in (([str(bobs.pk), "--user", "viewer"], 1), ([str(task.pk), "--task", "--user", "viewer"], 1),
                       ([str(bobs.pk), "--user", "nobody"], 1), ([str(bobs.pk), "--user", "carol"], 2)):
        if argv[-1] == "carol":
            member("carol", "weft.cancel_job")  # may cancel, does not see bob's job
        with pytest.raises(CommandError) as exc:
            call_command("weft_cancel", *argv, stdout=io.StringIO())
        assert exc.value.returncode == code, (argv, str(exc.value))
    assert status(bobs) == "running"

    call_command("weft_cancel", str(bobs.pk), "--user", "bob", stdout=io.StringIO())
    assert status(bobs) == "cancelled" and cancel_reasons(bobs) == ["cancelled by bob"]
