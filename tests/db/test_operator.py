"""What an operator reads and does: ``explain`` names the cause of a job failed through lost attempts, the
commands' id errors name the kind of id, and every operator action records who did it, through every adapter
(the commands with and without ``--user``, the admin, the HTTP API, the Python API)."""

from __future__ import annotations

import getpass
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models.functions import Now
from django.test import Client
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import service, sweep
from weft_django.exceptions import InvalidInput, UnknownId
from weft_django.lifecycle import claim as claiming
from weft_django.models import Decision, Job, Task

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"  # no worker consumes it
ME = f"{getpass.getuser()} on the command line"  # who the commands name without --user


def run(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*argv: str) -> CommandError:
    with pytest.raises(CommandError) as exc:
        run(*argv)
    return exc.value


def reasons(job_id: int, action: str) -> list[str]:
    return list(Decision.objects.filter(job_id=job_id, action=action).order_by("pk").values_list("reason", flat=True))


def two_tasks(owner: Any = None) -> Job:
    return service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "queue": INPROC},
                                         {"key": "b", "skill": "t.noop", "queue": INPROC}]}, owner=owner)


def task_of(job: Job, key: str = "a") -> Task:
    return Task.objects.get(job=job, key=key)


# ---------------------------------------------------------------- explain


def test_explain__names_the_task_whose_attempts_were_lost() -> None:
    job = service.submit("t.sleep", {"seconds": 1}, queue=INPROC, name="lossy", retry={"max_attempts": 1})
    task = task_of(job, "t.sleep")
    assert claiming.claim(task.pk, task.attempts, worker="w1@test") is not None
    Task.objects.filter(pk=task.pk).update(lease_expires_at=Now() - timedelta(seconds=1))  # its worker went silent
    assert sweep.sweep() == {"failed": 1, "lost": 1}
    assert Job.objects.get(pk=job.pk).status == "failed"

    cause = next(line for line in service.explain(job.pk).splitlines() if line.startswith("Cause:"))
    assert cause.startswith("Cause: task 't.sleep' failed on attempt 1: attempt 1 of 1 was lost (its lease "
                            "expired); no attempts left (worker w1@test"), cause
    assert not cause.endswith("the task failed")


def test_explain__a_lost_attempt_that_was_retried_is_not_the_cause() -> None:
    job = two_tasks()
    lost = task_of(job, "a")
    assert claiming.claim(lost.pk, lost.attempts, worker="w1@test") is not None
    Task.objects.filter(pk=lost.pk).update(lease_expires_at=Now() - timedelta(seconds=1))
    assert sweep.sweep() == {"lost": 1, "retried": 1}
    assert service.cancel_task(task_of(job, "b").pk, by="ops") is True
    assert service.cancel(job.pk, by="ops") is True
    assert "Cause: cancelled by ops" in service.explain(job.pk).splitlines()


# ---------------------------------------------------------------- id errors


def test_weft_cancel__a_bad_id_is_named_as_the_kind_of_id_it_is() -> None:
    task_error = fails("weft_cancel", "abc", "--task")
    assert task_error.returncode == 1 and "a task id is a positive whole number, got 'abc'" in str(task_error)
    job_error = fails("weft_cancel", "0")
    assert job_error.returncode == 1 and "a job id is a positive whole number, got '0'" in str(job_error)
    missing = fails("weft_cancel", "987654321", "--task")
    assert missing.returncode == 2 and "no task with id 987654321" in str(missing)
    for argv, kind in ((("weft_kill", "x"), "TASK"), (("weft_approve", "x"), "TASK"), (("weft_rerun", "x"), "job"),
                       (("weft_status", "x"), "job"), (("weft_result", "x"), "job"), (("weft_explain", "x"), "job")):
        assert kind in str(fails(*argv)), argv


# ---------------------------------------------------------------- who did it: the commands


def test_commands__without_user_name_the_login_that_ran_them() -> None:
    job, other = two_tasks(), two_tasks()
    run("weft_kill", str(task_of(job, "a").pk))
    run("weft_cancel", str(task_of(job, "b").pk), "--task")
    run("weft_cancel", str(other.pk))
    assert reasons(job.pk, "cancel") == [f"cancelled by {ME}"] * 2
    assert reasons(other.pk, "cancel") == [f"cancelled by {ME}"]
    assert Job.objects.get(pk=other.pk).status == "cancelled"

    new = Job.objects.get(pk=int(run("weft_rerun", str(other.pk))))
    assert new.labels == {"rerun_of": other.pk, "rerun_by": ME}

    guarded = [task_of(service.submit("t.guarded", queue=INPROC), "t.guarded") for _ in range(2)]
    run("weft_approve", str(guarded[0].pk))
    run("weft_approve", str(guarded[1].pk), "--reject", "--reason", "no")
    assert reasons(guarded[0].job_id, "approve") == [f"approved by {ME}"]
    assert reasons(guarded[1].job_id, "reject") == [f"rejected by {ME}: no"]


def test_weft_kill__with_user_is_checked_and_named() -> None:
    bob = member("bob")
    member("eve")
    job = two_tasks(owner=bob)
    assert fails("weft_kill", str(task_of(job).pk), "--user", "eve").returncode == 2  # she does not see it
    assert fails("weft_kill", str(task_of(job).pk), "--user", "nobody").returncode == 1
    assert reasons(job.pk, "cancel") == [] and task_of(job).status == "queued"
    run("weft_kill", str(task_of(job).pk), "--user", "bob")
    assert reasons(job.pk, "cancel") == ["cancelled by bob"] and task_of(job).status == "cancelled"


def test_weft_rerun__with_user_names_them_and_a_rerun_of_a_rerun_names_the_last_asker() -> None:
    ada = member("ada", "weft.run_skill")
    old = two_tasks(owner=ada)
    first = Job.objects.get(pk=int(run("weft_rerun", str(old.pk), "--user", "ada")))
    assert first.labels == {"rerun_of": old.pk, "rerun_by": "ada"}
    again = service.rerun(first.pk)  # the Python API naming no one: no one is named
    assert again.labels == {"rerun_of": first.pk}


# ---------------------------------------------------------------- who did it: the admin, HTTP, Python


def test_admin__rerun_names_who_asked() -> None:
    ops = member("ops", "weft.view_job", "weft.view_all_jobs", "weft.run_skill", staff=True)
    old = two_tasks()
    c = Client()
    c.force_login(ops)
    assert c.post("/admin/weft/job/", {"action": "rerun_jobs", "_selected_action": [old.pk]}).status_code == 302
    [new] = Job.objects.exclude(pk=old.pk)
    assert new.labels == {"rerun_of": old.pk, "rerun_by": "ops"}


def test_admin__cancel_and_approve_name_who_did_it() -> None:
    ops = member("ops", "weft.view_job", "weft.view_task", "weft.view_all_jobs", "weft.cancel_job",
                 "weft.approve_task", staff=True)
    c = Client()
    c.force_login(ops)
    job, other = two_tasks(), two_tasks()
    guarded = task_of(service.submit("t.guarded", queue=INPROC), "t.guarded")
    for url, action, pk in (("job", "cancel_jobs", job.pk), ("task", "cancel_tasks", task_of(other).pk),
                            ("task", "approve_tasks", guarded.pk)):
        assert c.post(f"/admin/weft/{url}/", {"action": action, "_selected_action": [pk]}).status_code == 302
    assert reasons(job.pk, "cancel") == ["cancelled by ops"]
    assert reasons(other.pk, "cancel") == ["cancelled by ops"]
    assert reasons(guarded.job_id, "approve") == ["approved by ops"]


def test_api__rerun_names_who_asked() -> None:
    ada = member("ada", "weft.run_skill")
    old = two_tasks(owner=ada)
    c = APIClient()
    c.force_authenticate(ada)
    r = c.post(f"/api/weft/jobs/{old.pk}/rerun/")
    assert r.status_code == 201, r.content
    assert Job.objects.get(pk=r.json()["id"]).labels == {"rerun_of": old.pk, "rerun_by": "ada"}


def test_service__rerun_by_a_name_records_it() -> None:
    old = two_tasks()
    assert service.rerun(old.pk, by="the night shift").labels == {"rerun_of": old.pk, "rerun_by": "the night shift"}


TASK_ACTIONS: dict[str, Callable[..., Any]] = {
    "cancel_task": service.cancel_task, "approve": service.approve, "reject": service.reject,
    "retry_task": service.retry_task, "unblock": service.unblock}


@pytest.mark.parametrize("action", TASK_ACTIONS)
@pytest.mark.parametrize("bad", ["abc", 1.5, True, [1], None, "\x00", float("inf")])
def test_python_api__a_task_action_given_no_task_id_says_so(action: str, bad: Any) -> None:
    with pytest.raises(UnknownId):  # was a ValueError or TypeError from the query ("Field 'id' expected a number")
        TASK_ACTIONS[action](bad)


@pytest.mark.parametrize("action", [*TASK_ACTIONS, "cancel", "rerun"])
@pytest.mark.parametrize("by", ["ops\x00", "ops\ud800"])
def test_python_api__a_by_no_row_can_hold_is_refused_naming_by_and_nothing_is_written(action: str, by: str) -> None:
    guarded = task_of(service.submit("t.guarded", queue=INPROC), "t.guarded")
    target = guarded.job_id if action in ("cancel", "rerun") else guarded.pk
    actions: dict[str, Callable[..., Any]] = {"cancel": service.cancel, "rerun": service.rerun, **TASK_ACTIONS}
    fn = actions[action]
    before = (Decision.objects.count(), Job.objects.count(), Task.objects.get(pk=guarded.pk).status)
    with pytest.raises(InvalidInput) as info:  # was a DataError or UnicodeEncodeError from PostgreSQL
        fn(target, by=by)
    assert info.value.field == "by"
    assert (Decision.objects.count(), Job.objects.count(), Task.objects.get(pk=guarded.pk).status) == before
