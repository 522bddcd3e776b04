"""An operator's second chance: retry one failed task (its skipped dependents and its job come back), unblock a
task blocked with a reason; each from code, the HTTP API and the admin, checked and recorded."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from weft_django import service
from weft_django.exceptions import InvalidInput
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.models import AuditEntry, Decision, Job, Task
from weft_django.outcomes import Observation, Outcome

pytestmark = pytest.mark.django_db


def run(task: Task, outcome: Outcome, attempt_outcome: str = "") -> None:
    c = claiming.claim(task.pk, Task.objects.get(pk=task.pk).attempts)
    assert c is not None
    report.record(c, Observation(outcome, attempt_outcome or {"success": "succeeded", "failure": "failed",
                                                               "blocked": "blocked"}[outcome.kind]))


def failed_dag(owner: Any = None) -> Job:
    """a fails for good; b (after a) and c (after b) are skipped; d (independent) succeeds; e needs a and x,
    and x failed too: e stays skipped when a is retried."""
    job = service.submit_job({"tasks": [
        {"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}, "retry": {"max_attempts": 1}},
        {"key": "b", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": ["a"]},
        {"key": "c", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": ["b"]},
        {"key": "d", "skill": "t.add", "params": {"a": 1, "b": 2}},
        {"key": "x", "skill": "t.add", "params": {"a": 1, "b": 2}, "retry": {"max_attempts": 1}},
        {"key": "e", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": ["a", "x"]},
    ]}, owner=owner)
    tasks = {t.key: t for t in Task.objects.filter(job=job)}
    run(tasks["d"], Outcome.success(3))
    run(tasks["x"], Outcome.failure("x broke", retryable=False))
    run(tasks["a"], Outcome.failure("a broke", retryable=False))
    return Job.objects.get(pk=job.pk)


def states(job: Job) -> dict[str, str]:
    return dict(Task.objects.filter(job=job).values_list("key", "status"))


def test_retry__runs_the_task_again_with_its_skipped_dependents_and_its_job() -> None:
    job = failed_dag()
    assert job.status == "failed"
    assert states(job) == {"a": "failed", "b": "skipped", "c": "skipped", "d": "succeeded", "x": "failed",
                           "e": "skipped"}
    a = Task.objects.get(job=job, key="a")
    assert service.retry_task(a.pk, by="ops") is True
    assert states(job) == {"a": "queued", "b": "pending", "c": "pending", "d": "succeeded", "x": "failed",
                           "e": "skipped"}  # e still has a failed upstream (x)
    job.refresh_from_db()
    assert (job.status, job.tasks_open, job.tasks_failed, job.finished_at) == ("running", 3, 2, None)
    assert Decision.objects.filter(task=a, action="retry", policy="operator.retry").count() == 1
    assert Decision.objects.filter(job=job, task=None, action="retry").get().reason.startswith("running again: ops")
    assert AuditEntry.objects.filter(action="retry_task", task_id=a.pk, via="code").count() == 1
    assert service.retry_task(a.pk, by="ops") is False  # queued now: nothing to do
    # It runs, its dependents follow; x is still failed, so the job ends failed again, with every count right.
    run(Task.objects.get(pk=a.pk), Outcome.success(3))
    run(Task.objects.get(job=job, key="b"), Outcome.success(3))
    run(Task.objects.get(job=job, key="c"), Outcome.success(3))
    job.refresh_from_db()
    assert (job.status, job.tasks_open, job.tasks_failed) == ("failed", 0, 2)
    assert states(job)["c"] == "succeeded"


def test_retry__refuses_a_task_of_a_decomposition_and_a_live_one() -> None:
    job = service.submit("t.add", {"a": 1, "b": 2})
    task = Task.objects.get(job=job)
    assert service.retry_task(task.pk) is False  # queued: not failed
    child = Task.objects.create(job=job, parent=task, key="t.add/c0", skill_name="t.add", params={},
                                limits={}, retry={}, queue="weft", priority=5, status="failed")
    with pytest.raises(InvalidInput) as info:
        service.retry_task(child.pk)
    assert info.value.field == "task" and "rerun" in info.value.message


def test_unblock__lets_a_task_blocked_with_a_reason_run_again() -> None:
    # Another task of the job still runs: a job whose only live task is blocked is stuck, and stops.
    job = service.submit_job({"tasks": [{"key": "t", "skill": "t.add", "params": {"a": 1, "b": 2}},
                                        {"key": "other", "skill": "t.noop"}]})
    task = Task.objects.get(job=job, key="t")
    assert claiming.claim(Task.objects.get(job=job, key="other").pk, 0) is not None
    run(task, Outcome.blocked("waiting for the vendor's file"))
    assert Task.objects.get(pk=task.pk).status == "blocked"
    assert service.unblock(task.pk, "the file arrived", by="ops") is True
    task.refresh_from_db()
    assert (task.status, task.blocked_reason) == ("queued", "")
    [d] = Decision.objects.filter(task=task, policy="operator.unblock")
    assert d.reason == "unblocked by ops: the file arrived (it waited for: waiting for the vendor's file)"
    assert service.unblock(task.pk) is False
    with pytest.raises(InvalidInput):
        service.unblock(task.pk, "bad \x00 note")


def test_the_api_and_the_admin_check_permissions_and_record_who(client: Client) -> None:
    owner = User.objects.create_user("owner", password="pw")
    owner.user_permissions.add(Permission.objects.get(codename="run_skill"))
    other = User.objects.create_user("other", password="pw")
    other.user_permissions.add(Permission.objects.get(codename="run_skill"))
    job = failed_dag(owner=owner)
    a = Task.objects.get(job=job, key="a")
    client.force_login(other)
    assert client.post(f"/api/weft/tasks/{a.pk}/retry/").status_code == 404  # not theirs: not even seen
    client.force_login(owner)
    answer = client.post(f"/api/weft/tasks/{a.pk}/retry/")
    assert (answer.status_code, answer.json()) == (200, {"retried": True})
    assert AuditEntry.objects.get(action="retry_task").actor_id == owner.pk
    staff = User.objects.create_superuser("admin", password="pw")
    client.force_login(staff)
    x = Task.objects.get(job=job, key="x")
    page = client.get(f"/admin/weft/task/{x.pk}/change/")
    assert b'id="act-retry"' in page.content
    client.post(f"/admin/weft/task/{x.pk}/do/retry/")
    assert Task.objects.get(pk=x.pk).status == "queued"
    assert AuditEntry.objects.filter(action="retry_task", via="admin", actor_id=staff.pk).count() == 1
