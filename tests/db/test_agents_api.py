"""The claim API of agents outside Celery on PostgreSQL: register, claim by capability, renew, report, fencing
(a stale token, a lease the sweep recovered), permissions, bad input. No worker: the tests roll back, and what a
submission dispatches is published only after commit."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import service
from weft_django.lifecycle import recover
from weft_django.models import Agent, Attempt, AuditEntry, Decision, Job, Task

pytestmark = pytest.mark.django_db

API = "/api/weft/agents/"
AGENT = ("weft.act_as_agent",)


def client(u: User) -> APIClient:
    c = APIClient()
    c.force_authenticate(u)
    return c


def register(c: APIClient, name: str, caps: list[str]) -> int:
    r = c.post(API, {"name": name, "capabilities": caps}, format="json")
    assert r.status_code in (200, 201), r.content
    return int(r.json()["id"])


def claim(c: APIClient, agent: int | str, **body: Any) -> Any:
    return c.post(f"{API}{agent}/claim/", body, format="json")


def beat(c: APIClient, agent: int, task: int, token: int) -> Any:
    return c.post(f"{API}{agent}/heartbeat/", {"task": task, "token": token}, format="json")


def report(c: APIClient, agent: int, task: int, token: int, **body: Any) -> Any:
    return c.post(f"{API}{agent}/report/", {"task": task, "token": token, "outcome": "succeeded", **body},
                  format="json")


def task_of(job: Job) -> Task:
    return Task.objects.get(job=job)


def test_agents_api__a_task_requiring_capabilities_is_routed_and_frozen_on_its_row() -> None:
    job = service.submit("t.gpu_echo", {"text": "hi"}, capabilities=["python3.12"])
    t = task_of(job)
    assert (t.queue, t.capabilities) == ("weft+gpu+python3.12", ["gpu", "python3.12"])
    plain = task_of(service.submit("t.any_echo", {"text": "hi"}))
    assert (plain.queue, plain.capabilities) == ("weft", [])
    again = task_of(service.rerun(job.pk))  # the spec says the queue it named, routed again the same way
    assert (again.queue, again.capabilities) == (t.queue, t.capabilities)


def test_agents_api__register_is_the_callers_own_and_audited() -> None:
    ann, bob = member("ann", *AGENT), member("bob", *AGENT)
    r = client(ann).post(API, {"name": "box-1", "capabilities": ["gpu", "cuda"]}, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["capabilities"] == ["cuda", "gpu"]
    again = client(ann).post(API, {"name": "box-1", "capabilities": ["gpu"]}, format="json")
    assert (again.status_code, again.json()["id"], again.json()["capabilities"]) == (200, r.json()["id"], ["gpu"])
    assert Agent.objects.get(name="box-1").capabilities == ["gpu"]
    taken = client(bob).post(API, {"name": "box-1"}, format="json")
    assert (taken.status_code, taken.json()["field"]) == (400, "name")
    assert AuditEntry.objects.filter(action="agent_register", actor=ann).count() == 2


def test_agents_api__an_agent_claims_only_what_its_capabilities_cover() -> None:
    ann = member("ann", *AGENT)
    c = client(ann)
    gpu_job = service.submit("t.gpu_echo", {"text": "on the gpu"})
    any_job = service.submit("t.any_echo", {"text": "anywhere"})
    service.submit("t.gpu_add", {"a": 1, "b": 2})  # a Python skill: a Celery worker's, never an agent's
    plain = register(c, "plain", [])
    first = claim(c, plain)
    assert first.status_code == 200, first.content
    assert (first.json()["task"], first.json()["argv"]) == (task_of(any_job).pk, ["echo", "anywhere"])
    assert claim(c, plain).status_code == 204  # the gpu task is not for it
    gpu = register(c, "gpu", ["gpu", "big-mem"])
    got = claim(c, gpu, pid=4242).json()
    t = task_of(gpu_job)
    assert (got["task"], got["token"], got["capabilities"], t.status, t.worker) == (t.pk, 1, ["gpu"], "running",
                                                                                     "agent:gpu")
    attempt = Attempt.objects.get(task=t)
    assert (attempt.number, attempt.worker, attempt.pid, attempt.outcome) == (1, "agent:gpu", 4242, "running")
    assert Agent.objects.get(pk=gpu).current_task_id == t.pk
    assert claim(c, gpu).status_code == 204  # t.gpu_add stays for a Celery worker
    assert AuditEntry.objects.filter(action="agent_claim", task_id=t.pk, actor=ann).exists()


def test_agents_api__renew_then_report_success_finishes_the_job() -> None:
    c = client(member("ann", *AGENT))
    job = service.submit("t.gpu_echo", {"text": "x"})
    agent = register(c, "gpu", ["gpu"])
    got = claim(c, agent, skills=["t.gpu_echo"]).json()
    t = task_of(job)
    Task.objects.filter(pk=t.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=1))
    renewed = beat(c, agent, t.pk, got["token"])
    assert renewed.status_code == 200, renewed.content
    assert renewed.json()["renewed"] is True and renewed.json()["cancel_requested"] is False
    lease = Task.objects.get(pk=t.pk).lease_expires_at
    assert lease is not None and lease > timezone.now() + timedelta(seconds=20)
    done = report(c, agent, t.pk, got["token"], result={"exit_code": 0, "stdout": "x\n"}, stdout="x\n", exit_code=0)
    assert (done.status_code, done.json()["outcome"]) == (200, "succeeded")
    job.refresh_from_db()
    assert (job.status, task_of(job).result) == ("succeeded", {"exit_code": 0, "stdout": "x\n"})
    attempt = Attempt.objects.get(task=t)
    assert (attempt.outcome, attempt.stdout, attempt.exit_code) == ("succeeded", "x\n", 0)
    assert Agent.objects.get(pk=agent).current_task_id is None
    again = report(c, agent, t.pk, got["token"])  # a second report of a closed attempt changes nothing
    assert again.status_code == 409 and again.json()["lease_lost"] is True


def test_agents_api__a_failure_is_decided_like_a_workers_retry_or_fail() -> None:
    c = client(member("ann", *AGENT))
    retried = task_of(service.submit("t.any_echo", {"text": "x"}))
    agent = register(c, "a", [])
    got = claim(c, agent).json()
    r = report(c, agent, retried.pk, got["token"], outcome="failed", error="flaky", exit_code=1)
    assert r.json()["outcome"] == "failed"
    retried.refresh_from_db()
    assert (retried.status, retried.attempts) == ("queued", 1)
    Task.objects.filter(pk=retried.pk).update(not_before=None)  # its retry delay is due
    second = claim(c, agent).json()
    assert (second["task"], second["token"]) == (retried.pk, 2)
    report(c, agent, retried.pk, 2, outcome="failed", error="bad input", retryable=False)
    retried.refresh_from_db()
    assert retried.status == "failed"
    assert Decision.objects.filter(task=retried, action="fail").exists()


def test_agents_api__a_stale_token_is_refused_with_409_and_changes_nothing() -> None:
    c = client(member("ann", *AGENT))
    t = task_of(service.submit("t.gpu_echo", {"text": "x"}))
    agent = register(c, "gpu", ["gpu"])
    token = claim(c, agent).json()["token"]
    other = register(c, "other", ["gpu"])  # the token is no secret: another agent may not speak for the attempt
    for call in (beat(c, agent, t.pk, token + 1), report(c, agent, t.pk, token + 1), beat(c, agent, t.pk + 999, 1),
                 beat(c, other, t.pk, token), report(c, other, t.pk, token)):
        assert call.status_code == 409, call.content
        assert call.json()["lease_lost"] is True and "lost" in call.json()["detail"]
    assert (Task.objects.get(pk=t.pk).status, Attempt.objects.get(task=t).outcome) == ("running", "running")


def test_agents_api__after_the_sweep_recovers_an_expired_lease_the_old_agent_is_refused() -> None:
    c = client(member("ann", *AGENT))
    t = task_of(service.submit("t.gpu_echo", {"text": "x"}))
    old, new = register(c, "old", ["gpu"]), register(c, "new", ["gpu"])
    token = claim(c, old).json()["token"]
    Task.objects.filter(pk=t.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recover.expired(t.pk) == "retried"  # the sweep's step for an expired lease
    Task.objects.filter(pk=t.pk).update(not_before=None)  # its retry delay is due
    assert beat(c, old, t.pk, token).status_code == 409
    taken = claim(c, new).json()
    assert (taken["task"], taken["token"]) == (t.pk, token + 1)
    late = report(c, old, t.pk, token, result="late")
    assert late.status_code == 409 and late.json()["lease_lost"] is True
    first = Attempt.objects.get(task=t, number=token)
    assert (first.outcome, first.result) == ("discarded", "late")  # kept there, not applied
    assert Decision.objects.filter(task=t, action="discard_stale").exists()
    assert report(c, new, t.pk, taken["token"], result="fresh").json()["outcome"] == "succeeded"
    assert Task.objects.get(pk=t.pk).result == "fresh"


def test_agents_api__a_cancel_request_reaches_the_agent_at_its_heartbeat() -> None:
    c = client(member("ann", *AGENT))
    job = service.submit("t.gpu_echo", {"text": "x"})
    agent = register(c, "gpu", ["gpu"])
    token = claim(c, agent).json()["token"]
    service.cancel(job.pk)
    answer = beat(c, agent, task_of(job).pk, token).json()
    assert (answer["cancel_requested"], answer["renewed"]) == (True, False)
    r = report(c, agent, task_of(job).pk, token, outcome="cancelled")
    assert r.json()["outcome"] == "cancelled"
    assert (task_of(job).status, Job.objects.get(pk=job.pk).status) == ("cancelled", "cancelled")


def test_agents_api__every_endpoint_needs_the_permission_and_the_callers_own_agent() -> None:
    ann, bob, nobody = member("ann", *AGENT), member("bob", *AGENT), member("carl")
    t = task_of(service.submit("t.gpu_echo", {"text": "x"}))
    agent = register(client(ann), "gpu", ["gpu"])
    for r in (client(nobody).post(API, {"name": "x"}, format="json"), claim(client(nobody), agent),
              beat(client(nobody), agent, t.pk, 1), report(client(nobody), agent, t.pk, 1)):
        assert r.status_code == 403, r.content
        assert "weft.act_as_agent" in r.json()["detail"]
    for r in (claim(client(bob), agent), beat(client(bob), agent, t.pk, 1), report(client(bob), agent, t.pk, 1),
              claim(client(bob), "nope"), claim(client(bob), 2**70), claim(client(bob), "\u00b2")):
        assert r.status_code == 404, r.content
    assert APIClient().post(f"{API}{agent}/claim/", {}, format="json").status_code in (401, 403)
    assert Task.objects.get(pk=t.pk).status == "queued"
    Agent.objects.filter(pk=agent).update(enabled=False)  # the operator's switch
    off = claim(client(ann), agent)
    assert off.status_code == 403 and "switched off" in off.json()["detail"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("", {"name": "a\x00b"}, "name"), ("", {"name": "\ud800"}, "name"), ("", {"name": "x" * 200}, "name"),
    ("", {"name": "a", "capabilities": [1]}, "capabilities[0]"), ("", ["a"], ""),
    ("claim/", {"skills": "t.echo"}, "skills"), ("claim/", {"pid": -1}, "pid"),
    ("heartbeat/", {"task": "1", "token": 1}, "task"), ("heartbeat/", {"task": 1, "token": 10**12}, "token"),
    ("report/", {"task": 1, "token": 1, "outcome": "won"}, "outcome"),
    ("report/", {"task": 1, "token": 1, "outcome": "failed", "error": "\udc80"}, "error"),
    ("report/", {"task": 1, "token": 1, "outcome": "succeeded", "exit_code": 1e9}, "exit_code"),
])
def test_agents_api__bad_input_is_a_400_naming_the_field(path: str, body: Any, field: str) -> None:
    c = client(member("ann", *AGENT))
    agent = register(c, "a", [])
    url = f"{API}{agent}/{path}" if path else API
    r = c.post(url, json.dumps(body), content_type="application/json")  # ASCII: a lone surrogate as \\udXXX
    assert r.status_code == 400, r.content
    assert r.json()["field"] == field
    assert Agent.objects.count() == 1


def test_agents_api__the_schema_documents_the_endpoints() -> None:
    schema = client(member("ann")).get("/api/weft/schema/?format=json").json()
    for verb in ("claim", "heartbeat", "report"):
        assert f"/api/weft/agents/{{id}}/{verb}/" in schema["paths"]
    assert "409" in schema["paths"]["/api/weft/agents/{id}/report/"]["post"]["responses"]


def test_agents_api__the_admin_and_the_dashboard_show_agents_beside_workers() -> None:
    c = client(member("ann", *AGENT))
    t = task_of(service.submit("t.gpu_echo", {"text": "x"}))
    agent = register(c, "gpu-box", ["gpu", "cuda"])
    claim(c, agent)
    ops = Client()
    ops.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    page = ops.get("/admin/weft/agent/").content.decode()
    assert "gpu-box" in page and "cuda, gpu" in page and "just now" in page
    assert f'href="/admin/weft/task/{t.pk}/change/"' in page
    board = ops.get("/weft/").content.decode()
    assert 'id="agents"' in board and "gpu-box" in board and f"/admin/weft/task/{t.pk}/change/" in board
    r = ops.post("/admin/weft/agent/", {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": agent,
                                        "_save": "Save"})  # the list's "enabled" box left unticked: switched off
    assert r.status_code == 302, r.content.decode()[-2000:]
    assert Agent.objects.get(pk=agent).enabled is False
    assert AuditEntry.objects.filter(action="agent_switch", actor_name="ops").exists()


def test_agents_api__the_claims_gates_apply_a_lock_held_keeps_the_next_task_queued() -> None:
    c = client(member("ann", *AGENT))
    first = task_of(service.submit("t.gpu_echo", {"text": "1"}, locks=["db:orders"]))
    second = task_of(service.submit("t.gpu_echo", {"text": "2"}, locks=["db:orders"]))
    agent = register(c, "gpu", ["gpu"])
    got = claim(c, agent).json()
    assert got["task"] == first.pk
    assert claim(c, agent).status_code == 204  # the lock is held: admission leaves the other queued
    second.refresh_from_db()
    assert (second.status, second.attempts) == ("queued", 0) and "db:orders" in second.waiting_for
    report(c, agent, first.pk, got["token"])
    assert claim(c, agent).json()["task"] == second.pk  # released with the first task's end
