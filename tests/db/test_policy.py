"""Policies at submission, their decision records, the built-in policies' refusals, the Policy rows of the
admin (checked at save), ``weft_policy``, and the audit of what people do through every adapter."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.perms import member
from weft_django import registry, service
from weft_django.exceptions import InvalidInput, NotAllowed, PolicyDenied, SkillDisabled
from weft_django.lifecycle import policing
from weft_django.models import AuditEntry, Job, Policy, PolicyDecision, Skill, Task
from weft_django.policy import store

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"
API = "/api/weft"


def run(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def records(**filters: Any) -> list[tuple[Any, ...]]:
    return list(PolicyDecision.objects.filter(**filters).order_by("pk").values_list(
        "rule", "scope", "outcome", "skill", "field", "job_id", "task_id"))


@pytest.fixture(autouse=True)
def fresh_rules() -> Iterator[None]:
    """The rules a test's Policy rows made are forgotten with its rolled-back transaction."""
    yield
    store.forget()


@pytest.fixture
def staff(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


# ---------------------------------------------------------------- refused at submission, and recorded


def test_submit__a_denying_rule_refuses_records_and_writes_nothing_else(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "no-sleep", "reason": "sleeping is not work", "match": {"skill": "t.sleep*"},
                               "effects": {"deny": True}}]
    with pytest.raises(PolicyDenied) as exc:
        service.submit_job({"tasks": [{"key": "a", "skill": "t.noop"},
                                      {"key": "b", "skill": "t.sleep", "params": {"seconds": 1}}]})
    assert (exc.value.field, exc.value.rule) == ("tasks[1].skill", "no-sleep")
    assert str(exc.value) == "tasks[1].skill: denied by policy 'no-sleep': sleeping is not work"
    assert isinstance(exc.value, NotAllowed)
    assert not Job.objects.exists() and not Task.objects.exists()
    assert records() == [("no-sleep", "skill", "refused", "t.sleep", "tasks[1].skill", None, None)]
    matched = PolicyDecision.objects.get().matched
    assert matched["rule"] == {"skill": "t.sleep*"} and matched["task"]["skill"] == "t.sleep"
    assert Job.objects.filter(pk=service.submit("t.noop", queue=INPROC).pk).exists()  # others go on


def test_api__a_denied_submission_is_403_naming_the_rule(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "no-noop", "match": {"skill": "t.noop"}, "effects": {"deny": True}}]
    api = APIClient()
    api.force_login(member("ann", "weft.run_skill"))
    r = api.post(f"{API}/jobs/", {"skill": "t.noop"}, format="json")
    assert r.status_code == 403 and "no-noop" in r.json()["detail"], r.json()
    assert records() == [("no-noop", "skill", "refused", "t.noop", "skill", None, None)]
    assert PolicyDecision.objects.get().owner == User.objects.get(username="ann")


def test_builtin_policies__their_refusals_are_recorded_under_builtin_names(settings: Settings) -> None:
    settings.WEFT_LIMIT_CEILINGS = {"memory_mb": 100}
    with pytest.raises(InvalidInput, match="exceeds the configured ceiling"):
        service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "limits": {"memory_mb": 500}}]})
    with pytest.raises(InvalidInput, match="exceeds the configured ceiling"):
        service.submit("t.noop", timeout=10**9)
    registry.sync()
    Skill.objects.filter(name="t.echo").update(enabled=False)
    with pytest.raises(SkillDisabled):
        service.submit("t.echo", {"text": "x"})  # the single-statement path
    with pytest.raises(SkillDisabled):
        service.submit_job({"tasks": [{"key": "a", "skill": "t.noop"}, {"key": "b", "skill": "t.echo",
                                                                          "params": {"text": "x"}}]})
    with pytest.raises(NotAllowed):
        service.submit_by(member("bob", "weft.run_skill"), {"skill": "t.restricted"})
    assert records() == [
        ("builtin.limit_ceiling", "global", "refused", "t.noop", "tasks[0].limits.memory_mb", None, None),
        ("builtin.max_timeout", "global", "refused", "t.noop", "timeout", None, None),
        ("builtin.skill_enabled", "skill", "refused", "t.echo", "skill", None, None),
        ("builtin.skill_enabled", "skill", "refused", "t.echo", "tasks[1].skill", None, None),
        ("builtin.skill_permission", "skill", "refused", "t.restricted", "skill", None, None)]
    assert not Job.objects.exists()


# ---------------------------------------------------------------- changed at submission, and recorded


def test_submit__caps_routes_and_budget_are_applied_and_recorded(settings: Settings) -> None:
    settings.WEFT_QUEUES = None
    settings.WEFT_POLICIES = [
        {"name": "small", "match": {"skill": "t.*"}, "effects": {"limits": {"memory_mb": 256}, "timeout": 60}},
        {"name": "ml-slow", "match": {"labels": {"team": "ml"}}, "effects": {"queue": INPROC, "priority": 9,
                                                                             "budget": {"max_cost": 2}}},
    ]
    job = service.submit_job({"labels": {"team": "ml"}, "budget": {"max_cost": 10},
                              "tasks": [{"key": "a", "skill": "t.noop", "limits": {"memory_mb": 4096}}]})
    task = Task.objects.get(job=job)
    assert (task.limits, task.timeout, task.queue, task.priority) == ({"memory_mb": 256}, 60, INPROC, 9)
    assert Job.objects.get(pk=job.pk).max_cost == 2
    got = {(r.rule, r.outcome, r.job_id, r.task_id, r.changed[0]["field"], r.changed[0]["from"], r.changed[0]["to"])
           for r in PolicyDecision.objects.all()}
    assert got == {("small", "changed", job.pk, task.pk, "limits.memory_mb", 4096, 256),
                   ("small", "changed", job.pk, task.pk, "timeout", 3600, 60),
                   ("ml-slow", "changed", job.pk, task.pk, "queue", "weft", INPROC),
                   ("ml-slow", "changed", job.pk, task.pk, "priority", 5, 9),
                   ("ml-slow", "changed", job.pk, None, "budget.max_cost", 10, 2)}
    lone = service.submit("t.noop", queue=INPROC, timeout=30, limits={"memory_mb": 100})  # within: nothing changed
    assert not PolicyDecision.objects.filter(job=lone).exists()


def test_submit__a_rule_requiring_approval_holds_ready_and_dependent_tasks(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "four-eyes", "match": {"skill": "t.noop"},
                               "effects": {"require_approval": True}}]
    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "queue": INPROC},
                                        {"key": "b", "skill": "t.noop", "queue": INPROC, "depends_on": ["a"]}]})
    a, b = Task.objects.get(job=job, key="a"), Task.objects.get(job=job, key="b")
    assert (a.status, a.blocked_reason, b.status) == ("blocked", "awaiting approval", "pending")
    assert records(outcome="held") == [("four-eyes", "skill", "held", "t.noop", "", job.pk, a.pk),
                                       ("four-eyes", "skill", "held", "t.noop", "", job.pk, b.pk)]
    assert service.approve(a.pk, by="ops")
    from weft_django.execution.runner import execute
    execute(a.pk, 0)
    b.refresh_from_db()
    assert (b.status, b.blocked_reason) == ("blocked", "awaiting approval")  # held at its first readiness


def test_policy_rows__apply_at_once_and_are_checked_before_saving(staff: Client) -> None:
    r = staff.post("/admin/weft/policy/add/", {"name": "cap", "enabled": "on", "reason": "",
                                               "match": '{"skill": "t.noop"}', "effects": '{"timeout": -1}'})
    assert r.status_code == 200 and "effects.timeout: must be greater than 0" in r.content.decode()
    assert not Policy.objects.exists() and not AuditEntry.objects.exists()
    r = staff.post("/admin/weft/policy/add/", {"name": "cap", "enabled": "on", "reason": "short",
                                               "match": '{"skill": "t.noop"}', "effects": '{"timeout": 5}'})
    assert r.status_code == 302, r.content.decode()[:2000]
    job = service.submit("t.noop", queue=INPROC)
    assert Task.objects.get(job=job).timeout == 5
    r = staff.post("/admin/weft/policy/add/", {"name": "cap2", "enabled": "on", "reason": "",
                                               "match": '{"skill": "t.*"}', "effects": '{"timeout": 9}'})
    assert r.status_code == 200 and "both of scope skill" in r.content.decode()  # a conflict is refused
    assert list(AuditEntry.objects.values_list("action", "via", "actor_name", "target")) == [
        ("policy_add", "admin", "ops", "policy cap")]


def test_at_claim__a_window_opened_since_submission_holds_the_task_and_is_recorded(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "weekdays-only", "reason": "no work at weekends", "match": {"skill": "t.noop"},
                               "effects": {"deny": True}}]
    with pytest.raises(PolicyDenied):
        service.submit("t.noop", queue=INPROC)
    assert not policing.claim_rules_exist()
    # A day of the week that is not today (the submission is not refused), and a date that is that day.
    day = (datetime.now(UTC).weekday() + 3) % 7
    settings.WEFT_POLICIES = [{"name": "weekdays-only", "reason": "no work at weekends", "match": {
        "skill": "t.noop", "window": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day]}},
        "effects": {"deny": True}}]
    assert policing.claim_rules_exist()
    job = service.submit("t.noop", queue=INPROC, labels={"k": "v"})
    task = Task.objects.get(job=job)
    fields = {"skill_name": task.skill_name, "queue": task.queue, "params": task.params}
    then = datetime(2026, 11, 30, 10, 0, tzinfo=UTC) + timedelta(days=day)  # 2026-11-30 is a Monday
    verdict = policing.at_claim(fields, None, job.labels, then)
    assert (verdict.run, verdict.rule) == (False, "weekdays-only")
    assert verdict.until == then.replace(hour=0) + timedelta(days=1)
    assert policing.at_claim(fields, None, job.labels, then + timedelta(days=1)).run
    policing.record_claim_hold(job.pk, task.pk, task.skill_name, verdict)
    assert records(outcome="held") == [("weekdays-only", "skill", "held", "t.noop", "", job.pk, task.pk)]


# ---------------------------------------------------------------- weft_policy


def test_weft_policy__validate_names_lines_and_conflicts_and_explain_is_a_dry_run(tmp_path: Path,
                                                                                  settings: Settings) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- name: a\n  effects:\n    priority: 12\n")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("weft_policy", "validate", str(bad), stdout=out)
    assert "policies[0].effects.priority: bad.yaml line 3: must be a whole number from 0 to 9" in out.getvalue()
    clash = tmp_path / "clash.yaml"
    clash.write_text("- {name: a, effects: {timeout: 5}}\n- {name: b, effects: {timeout: 6}}\n")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("weft_policy", "validate", str(clash), stdout=out)
    assert "conflict: policies 'a' (file clash.yaml line 1) and 'b' (file clash.yaml line 2)" in out.getvalue()
    assert "no errors, no conflicts" in run("weft_policy", "validate")

    settings.WEFT_POLICY_FILE = str(clash).replace("clash", "one")
    Path(settings.WEFT_POLICY_FILE).write_text("- {name: big-reports, match: {params: {a: {gt: 10}}}, "
                                               "effects: {deny: true}, reason: too big}\n")
    assert "DENIED by big-reports: too big" in run("weft_policy", "explain", "--skill", "t.add",
                                                   "--param", "a=11", "--param", "b=1")
    assert "no rule matches" in run("weft_policy", "explain", "--skill", "t.add", "--param", "a=1", "--param", "b=1")
    assert not Job.objects.exists() and not PolicyDecision.objects.exists()


# ---------------------------------------------------------------- audit: who, when, from where


def test_audit__every_adapter_records_who_and_from_where(staff: Client) -> None:
    ops = User.objects.get(username="ops")
    jobs = [service.submit("t.noop", queue=INPROC, owner=ops) for _ in range(4)]
    service.cancel(jobs[0].pk, by="script")  # code
    run("weft_cancel", str(jobs[1].pk), "--user", "ops")  # command
    api = APIClient()
    api.force_login(ops)
    assert api.post(f"{API}/jobs/{jobs[2].pk}/cancel/").json() == {"cancelled": True}  # api
    staff.post("/admin/weft/job/", {"action": "cancel_jobs", "_selected_action": [jobs[3].pk]})  # admin
    got = list(AuditEntry.objects.order_by("pk").values_list("action", "via", "actor_name", "actor_id", "job_id"))
    assert got == [("cancel_job", "code", "script", None, jobs[0].pk),
                   ("cancel_job", "command", "ops", ops.pk, jobs[1].pk),
                   ("cancel_job", "api", "ops", ops.pk, jobs[2].pk),
                   ("cancel_job", "admin", "ops", ops.pk, jobs[3].pk)]
    listed = api.get(f"{API}/jobs/{jobs[2].pk}/audit/").json()
    assert [(a["who"], a["via"], a["action"]) for a in listed["audit"]] == [("ops", "api", "cancel_job")]
    page = staff.get(f"/admin/weft/job/{jobs[3].pk}/change/").content.decode()
    assert "ops (admin): cancel_job" in page
    assert staff.get("/admin/weft/auditentry/").status_code == 200
    assert staff.get("/admin/weft/auditentry/add/").status_code == 403


def test_audit__approve_reject_rerun_and_skill_switches(staff: Client) -> None:
    guarded = [Task.objects.get(job=service.submit("t.guarded", queue=INPROC)) for _ in range(2)]
    service.approve(guarded[0].pk, by="ann", via="api")
    run("weft_approve", str(guarded[1].pk), "--reject", "--reason", "no")
    new = service.rerun(guarded[0].job_id, by="ann")
    registry.sync()
    skill = Skill.objects.get(name="t.noop")
    assert staff.post(f"/admin/weft/skill/{skill.pk}/change/", {}).status_code == 302  # enabled unticked
    assert not Skill.objects.get(pk=skill.pk).enabled
    got = list(AuditEntry.objects.order_by("pk").values_list("action", "via", "task_id", "job_id", "target"))
    assert got == [("approve", "api", guarded[0].pk, guarded[0].job_id, ""),
                   ("reject", "command", guarded[1].pk, guarded[1].job_id, ""),
                   ("rerun", "code", None, guarded[0].job_id, ""),
                   ("skill_disable", "admin", None, None, f"skill t.noop@{skill.version}")]
    assert AuditEntry.objects.get(action="rerun").detail == {"new_job": new.pk}
    with pytest.raises(InvalidInput, match="via"):
        service.cancel(new.pk, via="telepathy")


def test_limits_for__concurrency_and_rate_effects_are_exposed_with_their_rules(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "tenant-slots", "match": {"skill": "t.noop"},
                               "effects": {"concurrency": {"key": "{tenant}", "limit": 2}, "rate": "10/m"}}]
    task = {"skill_name": "t.noop", "queue": "weft", "params": {}}
    assert policing.limits_for(task, None, {}) == {
        "concurrency": {"limit": 2, "key": "{tenant}"}, "rate": {"rate": "10/m", "key": None},
        "rules": {"concurrency": "tenant-slots", "rate": "tenant-slots"}}
    assert policing.limits_for({**task, "skill_name": "t.add"}, None, {}) == {}


def test_weft_policy__json_after_the_verb() -> None:
    assert json.loads(run("weft_policy", "validate", "--json")) == {"rules": 0, "errors": [], "conflicts": []}
    explained = json.loads(run("weft_policy", "explain", "--skill", "t.noop", "--json"))
    assert (explained["skill"], explained["matched"], explained["denied"]) == ("t.noop", [], None)


def test_at_claim__the_claim_holds_a_task_inside_a_window_and_lets_it_go_after(settings: Settings) -> None:
    """Wired into the claim (lifecycle/policy_gate.py): no attempt, a waiting reason, one record, and the
    fast claim stands aside while such a rule is in force."""
    from weft_django.lifecycle import claim as claiming
    from weft_django.models import Attempt

    settings.WEFT_FAST_PATH = True
    job = service.submit("t.add", {"a": 1, "b": 2}, queue=INPROC)  # before the rule: not refused
    task = Task.objects.get(job=job)
    today = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][datetime.now(UTC).weekday()]
    settings.WEFT_POLICIES = [{"name": "not-today", "reason": "maintenance", "match": {
        "skill": "t.add", "window": {"days": today}}, "effects": {"deny": True}}]
    assert claiming.claim(task.pk, 0) is None
    assert claiming.claim(task.pk, 0) is None  # the sweep's re-offer: held again, recorded once
    task.refresh_from_db()
    assert task.status == "queued" and not Attempt.objects.filter(task=task).exists()
    assert task.waiting_for.startswith("held by policy 'not-today' until ") and task.waiting_for.endswith(
        ": maintenance")
    assert records(outcome="held") == [("not-today", "skill", "held", "t.add", "", job.pk, task.pk)]
    other = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(datetime.now(UTC).weekday() + 3) % 7]
    settings.WEFT_POLICIES = [{"name": "not-today", "reason": "maintenance", "match": {
        "skill": "t.add", "window": {"days": other}}, "effects": {"deny": True}}]
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None and Task.objects.get(pk=task.pk).waiting_for == ""


def test_run_time_tasks_meet_the_policies_too(settings: Settings) -> None:
    """A skill cannot side-step a deny rule by decomposing into the denied skill (or needing it)."""
    from weft_django.lifecycle import claim as claiming
    from weft_django.lifecycle import report
    from weft_django.outcomes import Observation, Outcome

    job = service.submit("t.noop", queue=INPROC)
    task = Task.objects.get(job=job)
    settings.WEFT_POLICIES = [{"name": "no-add", "reason": "adds are off", "match": {"skill": "t.add"},
                               "effects": {"deny": True}}]
    claimed = claiming.claim(task.pk, 0)
    assert claimed is not None
    report.record(claimed, Observation(Outcome.decompose([{"skill": "t.add", "params": {"a": 1, "b": 2}}]),
                                       attempt_outcome="decomposed"))
    task.refresh_from_db()
    assert task.status == "failed"
    assert "denied by policy 'no-add': adds are off" in task.error
    assert Task.objects.filter(job=job).count() == 1  # nothing was added
    assert records(outcome="refused")[-1][:4] == ("no-add", "skill", "refused", "t.add")
