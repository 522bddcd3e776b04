"""Every bad submission raises a WeftError that names the field, and writes nothing."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_django import Settings

from weft_django import registry, submission
from weft_django.exceptions import SkillDisabled, UnknownSkill, ValidationError, WeftError
from weft_django.jobspec import JobSpec
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


def field_of(error: WeftError) -> str:
    assert isinstance(error, ValidationError), f"{type(error).__name__} does not name a field: {error}"
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
