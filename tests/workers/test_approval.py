"""Skills that require approval: their tasks wait (blocked, "awaiting approval") until someone approves
or rejects them, through the Python API, the HTTP API, the admin action or ``weft_approve``.

The engine parts run in-process (``execution.runner.execute`` plays the worker, on a queue no worker
consumes); the last test runs a real worker.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import WorkerProcess
from tests.perms import member
from weft_django import service
from weft_django.exceptions import NotAllowed, UnknownId
from weft_django.execution.runner import execute
from weft_django.management import cli
from weft_django.models import Decision, Job, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"
AWAITING = ("blocked", "awaiting approval")


def state(task: Task) -> tuple[str, str]:
    task.refresh_from_db()
    return task.status, task.blocked_reason


def actions(job: Job) -> list[tuple[str | None, str, str]]:
    return list(Decision.objects.filter(job=job).order_by("pk").values_list("task__key", "action", "policy"))


def test_approval__a_lone_task_waits_and_is_not_dispatched(
        django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    with django_capture_on_commit_callbacks() as published:
        job = service.submit("t.guarded", {"n": 3}, queue=INPROC)
    task = Task.objects.get(job=job)

    assert state(task) == AWAITING
    assert published == [] or all("send" not in repr(c) for c in published)  # only job_submitted, no message
    assert actions(job) == [("t.guarded", "block", "approval.required")]
    assert Decision.objects.get(job=job).reason == "awaiting approval: skill 't.guarded' requires it"

    with django_capture_on_commit_callbacks() as published:
        assert service.approve(task.pk, by="alice") is True
    assert len(published) == 1  # the message, after commit
    assert state(task) == ("queued", "")
    assert actions(job)[-1] == ("t.guarded", "approve", "approval.granted")
    assert Decision.objects.filter(job=job).last().reason == "approved by alice"  # type: ignore[union-attr]
    assert service.approve(task.pk) is False  # not waiting any more

    execute(task.pk, 0)
    assert service.result(job.pk, timeout=1) == 3


def test_approval__rejecting_fails_the_task_without_an_attempt_and_explains_why() -> None:
    job = service.submit("t.guarded", queue=INPROC)
    task = Task.objects.get(job=job)

    assert service.reject(task.pk, "too risky on a Friday", by="bob") is True
    task.refresh_from_db()
    job.refresh_from_db()
    assert (task.status, task.error, task.attempts, job.status) == (
        "failed", "rejected by bob: too risky on a Friday", 0, "failed")
    assert actions(job)[-1] == ("t.guarded", "reject", "approval.rejected")
    assert "Cause: task 't.guarded' was rejected by bob: too risky on a Friday" in service.explain(job.pk)
    assert service.reject(task.pk) is False


def test_approval__a_dependent_waits_at_its_first_readiness_and_a_rejection_skips_downstream() -> None:
    job = service.submit_job({"tasks": [
        {"key": "build", "skill": "t.noop", "queue": INPROC},
        {"key": "deploy", "skill": "t.guarded", "depends_on": ["build"], "queue": INPROC},
        {"key": "announce", "skill": "t.noop", "depends_on": ["deploy"], "queue": INPROC},
    ]})
    tasks = {t.key: t for t in Task.objects.filter(job=job)}
    assert state(tasks["deploy"]) == ("pending", "")  # not held until it would be ready

    execute(tasks["build"].pk, 0)
    assert state(tasks["deploy"]) == AWAITING
    job.refresh_from_db()
    assert job.status == "running"  # waiting for a person is not stuck

    assert service.reject(tasks["deploy"].pk, by="carol") is True
    assert state(tasks["announce"])[0] == "skipped"
    job.refresh_from_db()
    assert job.status == "failed"


def test_approval__a_job_waiting_for_approval_is_not_stopped_as_stuck() -> None:
    job = service.submit_job({"tasks": [
        {"key": "gate", "skill": "t.guarded", "queue": INPROC},
        {"key": "stall", "skill": "t.blocked", "queue": INPROC},
    ]})
    stall = Task.objects.get(job=job, key="stall")
    execute(stall.pk, 0)  # blocks without needs: nothing else runnable, but "gate" waits for a person
    job.refresh_from_db()
    assert (job.status, job.stop_reason) == ("running", "")

    gate = Task.objects.get(job=job, key="gate")
    service.approve(gate.pk)
    execute(gate.pk, 0)
    job.refresh_from_db()
    assert job.status == "stopped" and job.stop_reason.startswith("stuck:")  # now only "stall" is left


def approver(name: str, *, may: bool) -> User:
    u = User.objects.create_user(name, is_staff=True)
    if may:
        u.user_permissions.add(Permission.objects.get(content_type__app_label="weft", codename="approve_task"))
    return User.objects.get(pk=u.pk)


def api(u: User) -> APIClient:
    c = APIClient()
    c.force_authenticate(u)
    return c


def test_approval__over_http_needs_the_permission() -> None:
    alice = member("alice")
    task = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=alice))
    url = f"/api/weft/tasks/{task.pk}"

    r = api(alice).post(f"{url}/approve/")  # her own task: she sees it, but may not approve
    assert r.status_code == 403 and "weft.approve_task" in r.json()["detail"]
    assert api(approver("viewer", may=False)).post(f"{url}/approve/").status_code == 404  # staff sees nothing more
    assert state(task) == AWAITING

    boss = api(approver("boss", may=True))
    assert boss.post(f"{url}/reject/", {"reason": 7}, format="json").status_code == 400
    assert boss.post(f"{url}/approve/").json() == {"approved": True}
    assert boss.post(f"{url}/approve/").json() == {"approved": False}
    assert boss.post(f"{url}/reject/", {"reason": "late"}, format="json").json() == {"rejected": False}
    assert Decision.objects.filter(task=task, action="approve").get().reason == "approved by boss"

    plain = Task.objects.get(job=service.submit("t.noop", queue=INPROC, owner=alice))
    assert boss.post(f"/api/weft/tasks/{plain.pk}/cancel/").status_code == 404  # approvers see approval tasks only


def test_approval__a_non_staff_approver_decides_other_owners_tasks_never_their_own(settings: Any) -> None:
    ann = member("ann", "weft.approve_task")  # not staff
    bob = member("bob")
    theirs = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=bob))
    hers = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=ann))

    assert api(ann).get(f"/api/weft/tasks/{theirs.pk}/").status_code == 200  # to see what she decides on
    assert api(ann).post(f"/api/weft/tasks/{theirs.pk}/approve/").json() == {"approved": True}
    assert state(theirs) == ("queued", "")
    assert Decision.objects.get(task=theirs, action="approve").reason == "approved by ann"
    assert api(ann).get(f"/api/weft/jobs/{theirs.job_id}/").status_code == 404  # the job itself stays bob's

    for verb in ("approve", "reject"):
        r = api(ann).post(f"/api/weft/tasks/{hers.pk}/{verb}/")
        assert r.status_code == 403 and "WEFT_ALLOW_SELF_APPROVAL" in r.json()["detail"], r.json()
    with pytest.raises(NotAllowed):
        service.approve(hers.pk, by=ann)
    with pytest.raises(NotAllowed):
        service.reject(hers.pk, "mine", by=ann)
    assert state(hers) == AWAITING and not Decision.objects.filter(task=hers, action__in=["approve", "reject"])

    settings.WEFT_ALLOW_SELF_APPROVAL = True
    assert api(ann).post(f"/api/weft/tasks/{hers.pk}/reject/", {"reason": "no"}, format="json").json() == {
        "rejected": True}
    assert Task.objects.get(pk=hers.pk).error == "rejected by ann: no"


def test_service__approve_by_a_user_needs_the_permission_a_name_is_trusted() -> None:
    bob, carl = member("bob"), member("carl", "weft.view_all_jobs")
    task = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=bob))
    with pytest.raises(NotAllowed):  # he sees it, but may not decide
        service.approve(task.pk, by=carl)
    with pytest.raises(UnknownId):  # a task he may not even see
        service.approve(task.pk, by=member("dan"))
    assert state(task) == AWAITING
    assert service.approve(task.pk, by="carl") is True  # a name: the caller vouches for it (code, weft_approve)
    assert Decision.objects.get(task=task, action="approve").reason == "approved by carl"


def test_approval__admin_actions_through_the_test_client() -> None:
    ops = member("ops", "weft.view_task", "weft.approve_task", staff=True)
    bob = member("bob")
    theirs = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=bob))
    mine = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=ops))
    c = Client()
    c.force_login(ops)

    r = c.post("/admin/weft/task/", {"action": "approve_tasks", "_selected_action": [theirs.pk, mine.pk]},
               follow=True)
    page = r.content.decode()
    assert "1 task approved." in page and "your own job" in page, page
    assert state(theirs) == ("queued", "") and state(mine) == AWAITING
    assert Decision.objects.get(task=theirs, action="approve").reason == "approved by ops"

    viewer = member("viewer", "weft.view_task", "weft.view_all_jobs", staff=True)
    c.force_login(viewer)
    r = c.post("/admin/weft/task/", {"action": "reject_tasks", "_selected_action": [mine.pk]}, follow=True)
    assert r.status_code == 200 and state(mine) == AWAITING  # the action is not offered to him


def test_weft_approve__with_user_follows_the_rules_and_names_them() -> None:
    ann, bob = member("ann", "weft.approve_task"), member("bob")
    theirs = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=bob))
    hers = Task.objects.get(job=service.submit("t.guarded", queue=INPROC, owner=ann))

    call_command("weft_approve", str(theirs.pk), "--user", "ann", stdout=io.StringIO())
    assert Decision.objects.get(task=theirs, action="approve").reason == "approved by ann"
    for argv, code, text in ((["--user", "ann"], 1, "your own job"), (["--user", "bob"], 2, "no task with id"),
                             (["--user", "nobody"], 1, "no user named 'nobody'"),
                             (["--user", "ann", "--by", "x"], 1, "exclude each other")):
        with pytest.raises(CommandError) as exc:
            call_command("weft_approve", str(hers.pk), *argv, stdout=io.StringIO())
        assert exc.value.returncode == code and text in str(exc.value), (argv, str(exc.value))
    assert state(hers) == AWAITING


def test_checks__allow_self_approval_must_be_a_bool(settings: Any) -> None:
    from weft_django import checks

    assert checks.check_permissions() == []
    settings.WEFT_ALLOW_SELF_APPROVAL = "False"
    [error] = checks.check_permissions()
    assert error.id == "weft.E050"


def test_approval__admin_actions_only_for_approvers(rf: Any) -> None:
    from django.contrib.admin.sites import site

    from weft_django.models import Task as TaskModel

    admin = site._registry[TaskModel]
    request = rf.get("/admin/weft/task/")
    request.user = approver("viewer", may=False)
    assert "approve_tasks" not in admin.get_actions(request)
    request.user = approver("boss", may=True)
    assert {"approve_tasks", "reject_tasks"} <= set(admin.get_actions(request))


def test_weft_approve__approves_rejects_and_says_why_not() -> None:
    first = Task.objects.get(job=service.submit("t.guarded", queue=INPROC))
    second = Task.objects.get(job=service.submit("t.guarded", queue=INPROC))
    out = io.StringIO()

    call_command("weft_approve", str(first.pk), "--by", "dave", stdout=out)
    call_command("weft_approve", str(second.pk), "--reject", "--reason", "no", stdout=out)
    assert out.getvalue().splitlines() == [f"task {first.pk}: approved", f"task {second.pk}: rejected"]
    assert Task.objects.get(pk=second.pk).error == f"rejected by {cli.operator()}: no"

    with pytest.raises(CommandError) as exc:
        call_command("weft_approve", str(first.pk), stdout=io.StringIO())
    assert exc.value.returncode == 1 and "is not waiting for approval" in str(exc.value)
    with pytest.raises(CommandError) as exc:
        call_command("weft_approve", "999999999", stdout=io.StringIO())
    assert exc.value.returncode == 2


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_approval__a_real_worker_runs_the_task_once_approved(worker: WorkerProcess) -> None:
    job = service.submit("t.guarded", {"n": 7})
    task = Task.objects.get(job=job)
    with pytest.raises(service.ResultTimeout):
        service.result(job.pk, timeout=1.0)  # nobody approved it: it does not run
    assert (state(task), task.attempts) == (AWAITING, 0)

    service.approve(task.pk, by="erin")
    assert service.result(job.pk, timeout=30) == 7
