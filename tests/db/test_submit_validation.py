"""Every bad submission raises a WeftError that names the field, and writes nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from pytest_django import Settings

from weft_django import registry
from weft_django.exceptions import InvalidInput, SkillDisabled, UnknownSkill, WeftError
from weft_django.jobspec import JobSpec
from weft_django.lifecycle import submit as submission
from weft_django.models import Attempt, Decision, Dependency, Job, Skill, Task
from weft_django.service import submit
from weft_django.spec import Limits, TaskSpec

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Job, Task, Dependency, Attempt, Decision))


@pytest.fixture
def refused() -> Iterator[Callable[..., WeftError]]:
    """Run a call that must fail; return its error after checking that no row was written."""
    before = counts()

    def run(call: Callable[..., Any], *args: Any, **kwargs: Any) -> WeftError:
        with pytest.raises(WeftError) as info:
            call(*args, **kwargs)
        assert counts() == before, "a refused submission wrote rows"
        return info.value

    yield run
    assert counts() == before


def refusal(call: Callable[..., Any], *args: Any, **kwargs: Any) -> WeftError:
    """``refused`` for a test that also writes: checks the rows around this one call only."""
    before = counts()
    with pytest.raises(WeftError) as info:
        call(*args, **kwargs)
    assert counts() == before, "a refused submission wrote rows"
    return info.value


def field_of(error: WeftError) -> str:
    assert isinstance(error, InvalidInput), f"{type(error).__name__} does not name a field: {error}"
    return error.field


def test_submit__unknown_skill(refused: Callable[..., WeftError]) -> None:
    error = refused(submit, "t.nope", {})
    assert isinstance(error, UnknownSkill)
    assert str(error) == "skill: unknown skill 't.nope'"


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"a": 1}, "params.b", "'b' is a required property"),
    ({"a": "1", "b": 2}, "params.a", "'1' is not of type 'number'"),
    ({"a": 1, "b": [2]}, "params.b", "[2] is not of type 'number'"),
])
def test_submit__params_failing_the_schema(refused: Callable[..., WeftError], params: dict[str, Any], field: str,
                                           message: str) -> None:
    error = refused(submit, "t.add", params)
    # a lone task submitted through submit() is named by its own fields
    assert field_of(error) == field
    assert error.message == message  # type: ignore[attr-defined]


@pytest.mark.parametrize(("params", "field"), [
    ({"a": math.nan, "b": 1}, "params"),
    ({"a": 1, "b": 1, "c": object()}, "params"),
    ([1, 2], "params"),
])
def test_submit__params_that_are_not_a_json_object(refused: Callable[..., WeftError], params: Any,
                                                   field: str) -> None:
    assert field_of(refused(submit, "t.add", params)) == field


@pytest.mark.parametrize(("params", "field"), [
    ({}, "params.text"),
    ({"text": None}, "params.text"),
    ({"text": "a\x00b"}, "params.text"),
])
def test_submit__command_params_that_cannot_fill_the_argv(refused: Callable[..., WeftError], params: Any,
                                                          field: str) -> None:
    assert field_of(refused(submit, "t.echo", params)) == field


@pytest.mark.parametrize(("limits", "field", "message"), [
    ({"memory_mb": -1}, "limits.memory_mb", "must be greater than 0, got -1"),
    ({"memory_mb": 0}, "limits.memory_mb", "must be greater than 0, got 0"),
    ({"cpu_seconds": math.nan}, "limits.cpu_seconds", "must be greater than 0, got nan"),
    ({"gpus": 1}, "limits.gpus", "unknown limit; known: cpu_percent, cpu_seconds, memory_mb, open_files, "
                                 "wall_seconds"),
    ({"memory_mb": 99999}, "limits.memory_mb", "99999 exceeds the configured ceiling 16384"),
])
def test_submit__bad_limits(refused: Callable[..., WeftError], limits: dict[str, Any], field: str,
                            message: str) -> None:
    error = refused(submit, "t.noop", {}, limits=limits)
    assert (field_of(error), error.message) == (field, message)  # type: ignore[attr-defined]


def test_submit__limits_over_a_lowered_ceiling(refused: Callable[..., WeftError], settings: Settings) -> None:
    settings.WEFT_LIMIT_CEILINGS = {"memory_mb": 256}
    error = refused(submit, "t.noop", {}, limits={"memory_mb": 512})
    assert str(error) == "limits.memory_mb: 512 exceeds the configured ceiling 256"


def test_submit__timeout_over_max_timeout(refused: Callable[..., WeftError], settings: Settings) -> None:
    settings.WEFT_MAX_TIMEOUT = 60
    error = refused(submit, "t.noop", {}, timeout=61)
    assert str(error) == "timeout: 61 s exceeds the configured ceiling 60 s"


def test_submit__default_timeout_over_max_timeout_is_refused_too(
        refused: Callable[..., WeftError], settings: Settings) -> None:
    settings.WEFT_MAX_TIMEOUT = 60  # the default timeout is 3600
    assert field_of(refused(submit, "t.noop", {})) == "timeout"


@pytest.mark.parametrize(("options", "field"), [
    ({"timeout": 0}, "timeout"),
    ({"timeout": -5}, "timeout"),
    ({"priority": 10}, "priority"),
    ({"priority": -1}, "priority"),
    ({"priority": "high"}, "priority"),
    ({"queue": "bad queue"}, "queue"),
    ({"queue": "weft\n"}, "queue"),
    ({"queue": "x" * 101}, "queue"),
    ({"key": "white space"}, "key"),
    ({"retry": "often"}, "retry"),
    ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
    ({"retry": {"tries": 2}}, "retry.tries"),
    ({"labels": {"x": {1}}}, "labels"),
])
def test_submit__bad_option(refused: Callable[..., WeftError], options: dict[str, Any], field: str) -> None:
    assert field_of(refused(submit, "t.noop", {}, **options)) == field


def test_task_spec__unknown_field_is_refused_before_anything_is_written(refused: Callable[..., WeftError]) -> None:
    def submit_raw(data: dict[str, Any]) -> Job:
        return submission.create_job([TaskSpec.parse(data)], submission.JobOptions())

    error = refused(submit_raw, {"skill": "t.noop", "parms": {}})
    assert str(error).startswith("parms: unknown field; known: ")


def test_create_job__one_bad_task_among_many_writes_nothing(refused: Callable[..., WeftError]) -> None:
    specs = [TaskSpec(skill="t.noop", key="a"), TaskSpec(skill="t.add", key="b", params={"a": 1, "b": "x"},
                                                         depends_on=("a",))]
    assert field_of(refused(submission.create_job, specs, submission.JobOptions())) == "tasks[1].params.b"


@pytest.mark.parametrize(("specs", "field", "message"), [
    ([TaskSpec(skill="t.noop", key="a", depends_on=("b",)), TaskSpec(skill="t.noop", key="b", depends_on=("a",))],
     "tasks", "dependency cycle: a -> b -> a"),
    ([TaskSpec(skill="t.noop", key="a", depends_on=("a",))], "tasks.a.depends_on", "task 'a' depends on itself"),
    ([TaskSpec(skill="t.noop", key="a", depends_on=("z",))], "tasks.a.depends_on", "unknown task key 'z'"),
    ([TaskSpec(skill="t.noop", key="a"), TaskSpec(skill="t.noop", key="a")], "tasks[1].key",
     "duplicate task key 'a'"),
    ([], "tasks", "a job needs at least one task"),
])
def test_create_job__bad_graph(refused: Callable[..., WeftError], specs: list[TaskSpec], field: str,
                               message: str) -> None:
    error = refused(submission.create_job, specs, submission.JobOptions())
    assert (field_of(error), error.message) == (field, message)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("options", "field"), [
    ({"max_attempts": 0}, "budget.max_attempts"),
    ({"max_attempts": True}, "budget.max_attempts"),
    ({"max_cost": -1.0}, "budget.max_cost"),
    ({"max_tokens": 0}, "budget.max_tokens"),
    ({"max_tokens": 1.5}, "budget.max_tokens"),
    ({"max_tokens": True}, "budget.max_tokens"),
    ({"max_tokens": "100"}, "budget.max_tokens"),
    ({"max_tokens": 10**16}, "budget.max_tokens"),
    ({"labels": {"a": math.inf}}, "labels"),
])
def test_create_job__bad_budget(refused: Callable[..., WeftError], options: dict[str, Any], field: str) -> None:
    error = refused(submission.create_job, [TaskSpec(skill="t.noop")], submission.JobOptions(**options))
    assert field_of(error) == field


def test_submit__idempotency_key_returns_the_same_job() -> None:
    first = submit("t.add", {"a": 1, "b": 2}, idempotency_key="unit-once")
    again = submit("t.add", {"a": 1, "b": 2}, idempotency_key="unit-once")
    assert again.pk == first.pk
    assert Job.objects.count() == 1
    assert Task.objects.count() == 1
    other = submit("t.add", {"a": 1, "b": 2}, idempotency_key="unit-twice")
    assert other.pk != first.pk


def test_submit__valid_submission_writes_one_job_and_one_queued_task() -> None:
    job = submit("t.add", {"a": 1, "b": 2}, limits={"memory_mb": 128}, priority=3, queue="weft")
    task = Task.objects.get(job=job)
    assert (job.tasks_total, job.tasks_open) == (1, 1)
    assert (task.status, task.key, task.params, task.priority, task.queue) == ("queued", "t.add", {"a": 1, "b": 2},
                                                                             3, "weft")
    assert task.limits == Limits(memory_mb=128).as_dict()
    assert task.retry["max_attempts"] == 3  # WEFT_DEFAULT_RETRY of tests/settings.py


def test_submit__nul_in_any_param_is_refused(refused: Callable[..., WeftError]) -> None:
    # PostgreSQL's jsonb cannot hold \u0000: without this check the INSERT fails with a DataError
    error = refused(submit, "t.noop", {"notes": ["fine", "a\x00b"]})
    assert str(error) == "params.notes[1]: must not contain the NUL character (\\u0000)"


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "ORM path"])
def test_a_disabled_skill_is_refused_and_nothing_is_written(fast: bool, settings: Settings,
                                                           refused: Callable[..., WeftError]) -> None:
    settings.WEFT_FAST_PATH = fast
    registry.sync()
    Skill.objects.filter(name="t.add").update(enabled=False)
    error = refused(submit, "t.add", {"a": 1, "b": 2})
    assert isinstance(error, SkillDisabled)
    assert (error.field, error.message) == ("skill", "skill 't.add' is disabled")
    # In a job, the error names the task; the other skills of the job are fine.
    error = refused(submission.submit_job, JobSpec.parse({"tasks": [
        {"key": "a", "skill": "t.noop"}, {"key": "b", "skill": "t.add", "params": {"a": 1, "b": 2}}]}))
    assert isinstance(error, SkillDisabled) and error.field == "tasks[1].skill"


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "ORM path"])
def test_a_skill_switched_back_on_is_accepted_again(fast: bool, settings: Settings) -> None:
    settings.WEFT_FAST_PATH = fast
    registry.sync()
    Skill.objects.filter(name="t.add").update(enabled=False)
    with pytest.raises(SkillDisabled):
        submit("t.add", {"a": 1, "b": 2})
    Skill.objects.filter(name="t.add").update(enabled=True)
    assert Job.objects.filter(pk=submit("t.add", {"a": 1, "b": 2}).pk).exists()


def test_submit_job__tasks_with_whole_and_fractional_timeouts() -> None:
    # One task's own timeout (30) beside the default (3600.0): the array insert once refused the mix.
    from weft_django import service
    from weft_django.models import Task

    job = service.submit_job({"tasks": [{"key": "a", "skill": "t.noop", "timeout": 30, "queue": "q1"},
                                        {"key": "b", "skill": "t.noop", "queue": "q1"}]})
    assert dict(Task.objects.filter(job=job).values_list("key", "timeout")) == {"a": 30.0, "b": 3600.0}


# ---------------------------------------------------------------- issue 10: input that once made a 500


YEAR_10000 = "9999-12-31T23:00:00-12:00"  # still 9999 where it is written, the year 10000 in UTC
DEEP: Any = 1
for _ in range(150):
    DEEP = [DEEP]


@pytest.mark.parametrize(("options", "field"), [
    ({"name": "x" * 201}, "name"),
    ({"name": ["x"]}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "a\ud800b"}, "name"),
    ({"idempotency_key": "k" * 201}, "idempotency_key"),
    ({"idempotency_key": 7}, "idempotency_key"),
    ({"idempotency_key": "k\x00"}, "idempotency_key"),
    ({"idempotency_key": "k\udfff"}, "idempotency_key"),
    ({"labels": ["x"]}, "labels"),
    ({"labels": "x"}, "labels"),
    ({"labels": {"a": "\ud800"}}, "labels.a"),
    ({"labels": {"\x00": 1}}, "labels"),
    ({"labels": {"deep": DEEP}}, "labels"),
    ({"params": {"x": "\ud800"}}, "params.x"),
    ({"params": {"deep": DEEP}}, "params"),
    ({"deadline": datetime.fromisoformat(YEAR_10000)}, "budget.deadline"),
    ({"deadline": datetime(2099, 1, 1)}, "budget.deadline"),  # naive
    ({"deadline": "tomorrow"}, "budget.deadline"),
    ({"retry": {"max_attempts": 10**9, "backoff": 0.001}}, "retry.max_attempts"),
    ({"retry": {"backoff": 0.001}}, "retry.backoff"),
    ({"retry": {"max_delay": 0.001}}, "retry.max_delay"),
])
def test_submit__refused_naming_the_field(refused: Callable[..., WeftError], options: dict[str, Any],
                                          field: str) -> None:
    params = options.pop("params", {})
    assert field_of(refused(submit, "t.noop", params, **options)) == field


@pytest.mark.parametrize(("job", "field"), [
    ({"budget": {"deadline": YEAR_10000}}, "budget.deadline"),
    ({"budget": {"deadline": 1e20}}, "budget.deadline"),
    ({"budget": {"deadline": 367 * 86400}}, "budget.deadline"),  # over WEFT_MAX_DEADLINE_DAYS (366)
    ({"budget": {"max_attempts": 2**31}}, "budget.max_attempts"),
    ({"budget": {"max_attempts": 1e300}}, "budget.max_attempts"),
    ({"name": "x" * 201}, "name"),
    ({"name": 5}, "name"),
    ({"labels": []}, "labels"),
    ({"idempotency_key": "\ud800"}, "idempotency_key"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"\ud800": 1}}]}, "tasks[0].params"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "retry": {"max_attempts": 101}}]}, "tasks[0].retry.max_attempts"),
])
def test_submit_job__refused_naming_the_field(refused: Callable[..., WeftError], job: dict[str, Any],
                                              field: str) -> None:
    from weft_django import service

    assert field_of(refused(service.submit_job, {"tasks": [{"key": "a", "skill": "t.noop"}], **job})) == field


def test_submit__deadline_within_a_configured_ceiling(settings: Settings) -> None:
    from datetime import UTC, timedelta

    settings.WEFT_MAX_DEADLINE_DAYS = 1
    error = refusal(submit, "t.noop", {}, deadline=datetime.now(UTC) + timedelta(days=2))
    assert field_of(error) == "budget.deadline"
    assert error.message.endswith("is more than 1 days ahead (the configured ceiling)")  # type: ignore[attr-defined]
    job = submit("t.noop", {}, deadline=datetime.now(UTC) + timedelta(hours=23))
    assert Job.objects.get(pk=job.pk).deadline is not None


def test_submit__retry_within_the_configured_bounds(settings: Settings) -> None:
    settings.WEFT_MAX_RETRY_ATTEMPTS = 10
    settings.WEFT_MIN_RETRY_BACKOFF = 0.5
    assert str(refusal(submit, "t.noop", {}, retry={"max_attempts": 11, "backoff": 1})) == (
        "retry.max_attempts: 11 exceeds the configured ceiling 10")
    # the skill's own policy is bounded too: t.flaky waits 0.05 s
    assert str(refusal(submit, "t.flaky", {})) == "retry.backoff: 0.05 s is below the configured floor 0.5 s"
    job = submit("t.flaky", {}, retry={"max_attempts": 10, "backoff": 0.5})
    assert Task.objects.get(job=job).retry["max_attempts"] == 10


@pytest.fixture
def fixed_retry_skill() -> Iterator[str]:
    """A skill that does not let callers change its retry policy (registered for this test only)."""
    registry.autodiscover()
    before = dict(registry._skills)
    registry.register(registry.SkillDef(name="unit.fixed_retry", kind="python", func=lambda: None,
                                        retry={"max_attempts": 2, "backoff": 1.0}, allow_retry_override=False))
    yield "unit.fixed_retry"
    with registry._lock:
        registry._skills.clear()
        registry._skills.update(before)


def test_submit__a_skill_may_forbid_overriding_its_retry(fixed_retry_skill: str) -> None:
    error = refusal(submit, fixed_retry_skill, {}, retry={"max_attempts": 50})
    assert str(error) == "retry: skill 'unit.fixed_retry' does not let callers change its retry policy"
    # The same policy again is no change (a rerun sends the task's whole policy back)
    job = submit(fixed_retry_skill, {}, retry={"max_attempts": 2})
    assert Task.objects.get(job=job).retry["max_attempts"] == 2
    from weft_django import service

    again = service.rerun(job.pk)
    assert Task.objects.get(job=again).retry == Task.objects.get(job=job).retry


def test_reject__a_reason_postgresql_cannot_store_is_refused() -> None:
    from weft_django import service

    job = submit("t.guarded", {})
    task = Task.objects.get(job=job)
    for reason in ("no\x00", "no\ud800"):
        with pytest.raises(InvalidInput) as info:
            service.reject(task.pk, reason, by="ops")
        assert info.value.field == "reason"
    assert not Decision.objects.filter(task=task, action="reject").exists()
    assert Task.objects.get(pk=task.pk).status == task.status


# ---------------------------------------------------------------- idempotency keys: per owner, one submission


def test_submit__idempotency_keys_are_per_owner() -> None:
    from django.contrib.auth.models import User

    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    a = submit("t.noop", {}, owner=alice, idempotency_key="k")
    b = submit("t.noop", {}, owner=bob, idempotency_key="k")
    code = submit("t.noop", {}, idempotency_key="k")  # from code, without an owner
    assert len({a.pk, b.pk, code.pk}) == 3
    assert submit("t.noop", {}, owner=alice, idempotency_key="k").pk == a.pk
    assert submit("t.noop", {}, idempotency_key="k").pk == code.pk
    assert Job.objects.count() == 3


@pytest.mark.parametrize(("first", "second", "differs"), [
    ({"params": {"a": 1, "b": 2}}, {"params": {"a": 1, "b": 3}}, "params"),
    ({"params": {"a": 1, "b": 2}}, {"params": {"a": 1, "b": 2}, "priority": 1}, "priority"),
    ({"params": {"a": 1, "b": 2}}, {"params": {"a": 1, "b": 2}, "labels": {"x": 1}}, "labels"),
    ({"params": {"a": 1, "b": 2}}, {"params": {"a": 1, "b": 2}, "name": "other"}, "name"),
])
def test_submit__an_idempotency_key_reused_for_another_submission_is_refused(
        first: dict[str, Any], second: dict[str, Any], differs: str) -> None:
    job = submit("t.add", idempotency_key="once", **first)
    before = counts()
    with pytest.raises(InvalidInput) as info:
        submit("t.add", idempotency_key="once", **second)
    assert info.value.field == "idempotency_key"
    assert info.value.message == (f"was used for job {job.pk}, submitted with a different {differs}; a different "
                                  "submission needs a new key")
    assert counts() == before
    assert submit("t.add", idempotency_key="once", **first).resubmitted


def test_submit__an_idempotency_key_compares_what_was_stored() -> None:
    # a tuple is stored as a JSON list: the same submission from Python again is not "different"
    job = submit("t.noop", {"xs": [1, 2], "n": 1}, labels={"tags": ["a"]}, idempotency_key="tuples")
    assert submit("t.noop", {"xs": (1, 2), "n": 1.0}, labels={"tags": ("a",)}, idempotency_key="tuples").pk == job.pk


def test_submit_job__an_idempotency_key_names_the_whole_job() -> None:
    from weft_django import service

    tasks: list[dict[str, Any]] = [{"key": "a", "skill": "t.noop"},
                                   {"key": "b", "skill": "t.add", "params": {"a": 1, "b": 2}, "depends_on": ["a"]}]
    spec = {"idempotency_key": "nightly", "budget": {"deadline": 600}, "tasks": tasks}
    job = service.submit_job(spec)
    assert not job.resubmitted
    again = service.submit_job(spec)  # a deadline in seconds counts from each submission: not compared
    assert (again.pk, again.resubmitted) == (job.pk, True)
    for change, differs in (({"tasks": tasks[:1]}, "tasks"),
                            ({"tasks": [tasks[0], {**tasks[1], "depends_on": []}]},
                             "tasks[1].depends_on"),
                            ({"budget": {}}, "budget.deadline"),
                            ({"budget": {"deadline": 600, "max_attempts": 3}}, "budget.max_attempts")):
        with pytest.raises(InvalidInput) as info:
            service.submit_job({**spec, **change})
        assert info.value.message.startswith(f"was used for job {job.pk}, submitted with a different {differs};")
    assert Job.objects.count() == 1


# ---------------------------------------------------------------- the commands get the same checks


def test_weft_run__bad_input_is_a_command_error_naming_the_field(refused: Callable[..., WeftError]) -> None:
    from django.core.management import CommandError, call_command

    for argv, field in ((["--idempotency-key", "k" * 201], "idempotency_key"),
                        (["--param", "x=\ud800"], "params.x")):
        with pytest.raises(CommandError) as info:
            call_command("weft_run", "t.noop", *argv)
        assert str(info.value).startswith(f"{field}: ")


def test_weft_submit__a_deadline_in_the_year_10000_is_refused(tmp_path: Any,
                                                            refused: Callable[..., WeftError]) -> None:
    from django.core.management import CommandError, call_command

    path = tmp_path / "job.json"
    path.write_text(json.dumps({"budget": {"deadline": YEAR_10000}, "tasks": [{"key": "a", "skill": "t.noop"}]}))
    with pytest.raises(CommandError) as info:
        call_command("weft_submit", "--file", str(path))
    assert str(info.value) == f"budget.deadline: {YEAR_10000} is out of range"


@pytest.mark.django_db(transaction=True)
def test_submit__a_concurrent_submission_with_the_same_key_gets_the_winners_job() -> None:
    """Two submissions race with one key: the loser's INSERT waits on the unique index until the winner
    commits, fails, and finds the winner's job (the same submission: returned, marked resubmitted)."""
    import threading

    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from tests.conftest import wait_for

    alice = User.objects.create_user("alice")
    release, inserted = threading.Event(), threading.Event()
    winner: list[Job] = []

    def win() -> None:
        try:
            with transaction.atomic():
                winner.append(submit("t.noop", {}, owner=alice, idempotency_key="race"))
                inserted.set()
                release.wait(30)
        finally:
            connection.close()

    first = threading.Thread(target=win)
    first.start()
    assert inserted.wait(30)
    loser: list[Job] = []

    def lose() -> None:
        try:
            loser.append(submit("t.noop", {}, owner=alice, idempotency_key="race"))
        finally:
            connection.close()

    second = threading.Thread(target=lose)
    second.start()
    with connection.cursor() as cursor:  # the second submission is blocked on the winner's index entry
        def blocked() -> bool:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND datname = current_database()")
            return cursor.fetchone()[0] > 0
        wait_for(blocked, 30, 0.05, "the second INSERT to wait for the first")
    release.set()
    first.join(30)
    second.join(30)
    assert (loser[0].pk, loser[0].resubmitted) == (winner[0].pk, True)
    assert Job.objects.count() == 1


@pytest.mark.parametrize("name", ["deep.json", "deep.yaml"])
def test_weft_submit__a_file_nested_too_deep_is_refused(tmp_path: Any, name: str,
                                                        refused: Callable[..., WeftError]) -> None:
    from django.core.management import CommandError, call_command

    path = tmp_path / name
    path.write_text('{"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": ' + "[" * 5000 + "]" * 5000
                    + "}}]}")
    with pytest.raises(CommandError) as info:
        call_command("weft_submit", "--file", str(path))
    assert str(info.value) == f"file: {name}: nested too deep"
