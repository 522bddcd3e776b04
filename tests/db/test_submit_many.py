"""``submit_many``: many one-task jobs in one go, the same rows ``submit`` writes (on the single statement and
on the ORM path), errors naming the item and its field, all or nothing, and policies and permissions per item."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pytest_django import Settings

from tests.perms import member
from weft_django import registry, service
from weft_django.exceptions import InvalidInput, NotAllowed, PolicyDenied, SkillDisabled, WeftError
from weft_django.models import Decision, Job, PolicyDecision, Skill, Task
from weft_django.policy import store

pytestmark = pytest.mark.django_db

INPROC = "weft-inprocess-tests"
ITEMS: list[dict[str, Any]] = [
    {"skill": "t.add", "params": {"a": 1, "b": 2}, "queue": INPROC},
    {"skill": "t.noop", "queue": INPROC, "priority": 2, "timeout": 30, "limits": {"memory_mb": 64},
     "name": "second", "labels": {"team": "ml"}, "key": "k2"},
    {"skill": "t.echo", "params": {"text": "hi"}, "queue": INPROC, "retry": {"max_attempts": 2}},
    {"skill": "t.noop", "queue": INPROC, "locks": ["db:x"]},
]
JOB = ("owner_id", "name", "status", "stop_reason", "idempotency_key", "labels", "max_attempts", "max_cost", "deadline",
       "cost", "tasks_total", "tasks_open", "tasks_failed", "finished_at")
TASK = ("key", "skill_name", "skill_version", "params", "limits", "retry", "timeout", "queue", "priority", "locks",
        "gates", "governed", "status", "attempts", "pending_deps", "has_dependents", "has_dependencies", "worker",
        "cancel_requested", "blocked_reason", "waiting_for", "error", "parent_id")


@pytest.fixture(autouse=True)
def fresh_rules() -> Iterator[None]:
    yield
    store.forget()


def rows(jobs: list[Job]) -> list[tuple[Any, ...]]:
    """Each job's row and its one task's row, as written (without ids and times), in the jobs' order."""
    out = []
    for job in jobs:
        stored = Job.objects.values(*JOB).get(pk=job.pk)
        task = Task.objects.values(*TASK, "dispatched_at").get(job_id=job.pk)
        assert task.pop("dispatched_at") is not None  # due now: the sweep re-sends it if its message is lost
        out.append((tuple(stored.values()), tuple(task.values())))
    return out


def as_submits(items: list[dict[str, Any]], owner: Any = None) -> list[Job]:
    return [service.submit(**item, owner=owner) for item in items]


@pytest.mark.parametrize("fast", [True, False])
def test_submit_many__writes_what_submit_writes_in_order(settings: Settings, fast: bool) -> None:
    settings.WEFT_FAST_PATH = fast
    owner = member("ann")
    jobs = service.submit_many(ITEMS, owner=owner)
    assert [j.name for j in jobs] == ["t.add", "second", "t.echo", "t.noop"]
    assert [Job.objects.get(pk=j.pk).name for j in jobs] == ["t.add", "second", "t.echo", "t.noop"]
    assert all(j.owner_id == owner.pk and j.status == "running" for j in jobs)
    expected = rows(as_submits(ITEMS, owner))  # one by one, as submit() writes them
    assert rows(jobs) == expected
    # the jobs returned are the rows (as a query would build them)
    for j in jobs:
        assert (j.labels, j.tasks_total, j.created_at) == Job.objects.values_list(
            "labels", "tasks_total", "created_at").get(pk=j.pk)


def test_submit_many__plain_items_are_one_statement_on_postgresql(settings: Settings) -> None:
    settings.WEFT_FAST_PATH = True
    items = [{"skill": "t.add", "params": {"a": i, "b": 1}, "queue": INPROC} for i in range(50)]
    with CaptureQueriesContext(connection) as queries:
        jobs = service.submit_many(items)
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "WITH"))]
    assert len(writes) == 1, writes
    assert [Task.objects.get(job_id=j.pk).params["a"] for j in jobs] == list(range(50))
    delivery = jobs[0].delivery
    assert len({j.pk for j in jobs}) == 50 and delivery is jobs[-1].delivery
    assert delivery is not None and delivery.total == 50


def test_submit_many__items_the_statement_cannot_take_go_the_orm_way_in_the_same_transaction(
        settings: Settings) -> None:
    settings.WEFT_FAST_PATH = True
    later = datetime.now(UTC) + timedelta(hours=1)
    jobs = service.submit_many([
        {"skill": "t.noop", "queue": INPROC},
        {"skill": "t.guarded", "queue": INPROC},  # requires approval
        {"skill": "t.noop", "queue": INPROC, "deadline": later, "idempotency_key": "once"},
    ])
    assert [Task.objects.get(job=j).status for j in jobs] == ["queued", "blocked", "queued"]
    assert Job.objects.get(pk=jobs[2].pk).deadline == later
    assert Decision.objects.filter(task__job=jobs[1], action="block").exists()
    again = service.submit_many([{"skill": "t.noop", "queue": INPROC, "deadline": later, "idempotency_key": "once"}])
    assert again[0].pk == jobs[2].pk and again[0].resubmitted
    error = refused(lambda: service.submit_many([
        {"skill": "t.noop", "queue": INPROC},
        {"skill": "t.noop", "queue": INPROC, "priority": 1, "deadline": later, "idempotency_key": "once"}]))
    assert isinstance(error, InvalidInput) and error.field == "[1].idempotency_key", error
    assert "different priority" in error.message


def counts() -> tuple[int, ...]:
    return Job.objects.count(), Task.objects.count(), Decision.objects.count()


def refused(call: Any) -> WeftError:
    before = counts()
    with pytest.raises(WeftError) as info:
        call()
    assert counts() == before, "a refused submit_many wrote rows"
    return info.value


GOOD = {"skill": "t.noop", "queue": INPROC}


@pytest.mark.parametrize(("bad", "field"), [
    ({"skill": "t.add", "params": {"a": 1}}, "[2].params.b"),
    ({"skill": "t.nope"}, "[2].skill"),
    ({"params": {}}, "[2].skill"),
    ({"skill": "t.noop", "bogus": 1}, "[2].bogus"),
    ({"skill": "t.noop", "depends_on": ["x"]}, "[2].depends_on"),
    ({"skill": "t.noop", "owner": 1}, "[2].owner"),
    ("t.noop", "[2]"),
    ({"skill": "t.noop", "priority": "1"}, "[2].priority"),
    ({"skill": "t.noop", "priority": 10}, "[2].priority"),
    ({"skill": "t.noop", "timeout": -1}, "[2].timeout"),
    ({"skill": "t.noop", "locks": "db:x"}, "[2].locks"),
    ({"skill": "t.echo", "params": {"text": "a\x00b"}}, "[2].params.text"),
    ({"skill": "t.echo", "params": {"text": "\ud800"}}, "[2].params.text"),
    ({"skill": "t.noop", "name": "x\x00"}, "[2].name"),
    ({"skill": "t.noop", "labels": []}, "[2].labels"),
    ({"skill": "t.noop", "idempotency_key": ""}, "[2].idempotency_key"),
    ({"skill": "t.noop", "deadline": "tomorrow"}, "[2].deadline"),
    ({"skill": "t.noop", "deadline": datetime(2020, 1, 1, tzinfo=UTC)}, "[2].deadline"),
    ({"skill": "t.noop", "limits": {"memory_mb": "a lot"}}, "[2].limits.memory_mb"),
])
@pytest.mark.parametrize("fast", [True, False])
def test_submit_many__a_bad_item_is_named_and_nothing_is_written(settings: Settings, bad: Any, field: str,
                                                                  fast: bool) -> None:
    settings.WEFT_FAST_PATH = fast
    error = refused(lambda: service.submit_many([GOOD, GOOD, bad, GOOD]))
    assert isinstance(error, InvalidInput), error
    assert error.field.startswith(field), (error.field, str(error))
    assert str(error).startswith(f"{error.field}: ")


def test_submit_many__the_list_itself(settings: Settings) -> None:
    assert service.submit_many([]) == []
    for bad in ({"skill": "t.noop"}, "t.noop", None, 3):
        error = refused(lambda bad=bad: service.submit_many(bad))
        assert isinstance(error, InvalidInput) and error.field == "", error
    error = refused(lambda: service.submit_many([{**GOOD, "idempotency_key": "k"}, GOOD, {**GOOD,
                                                                                        "idempotency_key": "k"}]))
    assert isinstance(error, InvalidInput) and error.field == "[2].idempotency_key"


def test_submit_many__a_disabled_skill_is_named_and_recorded() -> None:
    registry.sync()
    Skill.objects.filter(name="t.echo").update(enabled=False)
    error = refused(lambda: service.submit_many([GOOD, {"skill": "t.echo", "params": {"text": "x"}}]))
    assert isinstance(error, SkillDisabled) and error.field == "[1].skill"
    assert list(PolicyDecision.objects.values_list("rule", "skill", "field")) == [
        ("builtin.skill_enabled", "t.echo", "[1].skill")]


def test_submit_many__a_denying_rule_refuses_the_whole_list_and_is_recorded(settings: Settings) -> None:
    settings.WEFT_POLICIES = [{"name": "no-sleep", "reason": "sleeping is not work", "match": {"skill": "t.sleep"},
                               "effects": {"deny": True}}]
    owner = member("ann")
    error = refused(lambda: service.submit_many([GOOD, {"skill": "t.sleep", "params": {"seconds": 1}}], owner=owner))
    assert isinstance(error, PolicyDenied) and (error.field, error.rule) == ("[1].skill", "no-sleep")
    assert list(PolicyDecision.objects.values_list("rule", "outcome", "skill", "field", "owner_id", "job_id")) == [
        ("no-sleep", "refused", "t.sleep", "[1].skill", owner.pk, None)]


@pytest.mark.parametrize("fast", [True, False])
def test_submit_many__rules_change_and_hold_items_one_by_one_and_are_recorded(settings: Settings,
                                                                               fast: bool) -> None:
    settings.WEFT_FAST_PATH = fast
    settings.WEFT_POLICIES = [
        {"name": "ml-last", "match": {"labels": {"team": "ml"}}, "effects": {"priority": 9}},
        {"name": "four-eyes", "match": {"skill": "t.echo"}, "effects": {"require_approval": True}}]
    jobs = service.submit_many([GOOD, {**GOOD, "labels": {"team": "ml"}}, {"skill": "t.echo", "params": {"text": "x"},
                                                                            "queue": INPROC}])
    tasks = [Task.objects.get(job=j) for j in jobs]
    assert [(t.priority, t.status) for t in tasks] == [(5, "queued"), (9, "queued"), (5, "blocked")]
    got = set(PolicyDecision.objects.values_list("rule", "outcome", "job_id", "task_id"))
    assert got == {("ml-last", "changed", jobs[1].pk, tasks[1].pk), ("four-eyes", "held", jobs[2].pk, tasks[2].pk)}


def test_submit_many_by__checks_each_items_skill_for_the_user() -> None:
    nobody = member("nobody")
    error = refused(lambda: service.submit_many_by(nobody, [GOOD]))
    assert isinstance(error, NotAllowed)
    ann = member("ann", "weft.run_skill")
    error = refused(lambda: service.submit_many_by(ann, [GOOD, {"skill": "t.restricted", "queue": INPROC}]))
    assert isinstance(error, PolicyDenied) and error.field == "[1].skill", error
    assert list(PolicyDecision.objects.order_by("pk").values_list("rule", "skill", "field", "owner_id")) == [
        ("builtin.skill_permission", "t.noop", "", nobody.pk),  # weft.run_skill: for the whole list
        ("builtin.skill_permission", "t.restricted", "[1].skill", ann.pk)]
    allowed = member("bea", "weft.run_skill", "testapp.run_restricted")
    jobs = service.submit_many_by(allowed, [GOOD, {"skill": "t.restricted", "queue": INPROC}])
    assert [Job.objects.get(pk=j.pk).owner_id for j in jobs] == [allowed.pk, allowed.pk]


def test_submit_many_by__at_most_the_setting(settings: Settings) -> None:
    settings.WEFT_SUBMIT_MANY_MAX = 3
    ann = member("ann", "weft.run_skill")
    error = refused(lambda: service.submit_many_by(ann, [GOOD] * 4))
    assert isinstance(error, InvalidInput) and error.field == "" and "WEFT_SUBMIT_MANY_MAX" in error.message
    assert len(service.submit_many_by(ann, [GOOD] * 3)) == 3
