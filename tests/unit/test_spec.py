"""TaskSpec, Limits, RetryPolicy, check_params and check_json: every refusal names its field."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from weft_django.exceptions import InvalidInput, WeftError
from weft_django.jobspec import check_deadline, parse_deadline
from weft_django.spec import (
    MAX_JSON_DEPTH,
    Limits,
    RetryPolicy,
    TaskSpec,
    check_json,
    check_params,
    check_schema,
    check_text,
)

CEILINGS = Limits.parse({"memory_mb": 16384, "cpu_seconds": 86400, "open_files": 65536})


def refused(call: Any, *args: Any, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        call(*args, **kwargs)
    assert isinstance(info.value, WeftError)
    return info.value


# ---------------------------------------------------------------- Limits


def test_limits_parse__none_is_no_limits() -> None:
    assert Limits.parse(None) == Limits()
    assert Limits.parse({}).as_dict() == {}


def test_limits_parse__valid_values_are_kept_and_typed() -> None:
    limits = Limits.parse({"memory_mb": 512, "cpu_seconds": 1.5, "open_files": 64.0, "wall_seconds": None})
    assert limits.as_dict() == {"memory_mb": 512.0, "cpu_seconds": 1.5, "open_files": 64}
    assert isinstance(limits.open_files, int)


@pytest.mark.parametrize(("value", "reason"), [
    (-1, "must be greater than 0, got -1"),
    (0, "must be greater than 0, got 0"),
    (-0.5, "must be greater than 0, got -0.5"),
    (math.nan, "must be greater than 0, got nan"),
    (math.inf, "must be greater than 0, got inf"),
    (True, "must be a number, got bool"),
    ("512", "must be a number, got str"),
    ([512], "must be a number, got list"),
])
def test_limits_parse__bad_value_names_the_limit(value: Any, reason: str) -> None:
    error = refused(Limits.parse, {"memory_mb": value})
    assert error.field == "limits.memory_mb"
    assert error.message == reason
    assert str(error) == f"limits.memory_mb: {reason}"


def test_limits_parse__open_files_must_be_whole() -> None:
    error = refused(Limits.parse, {"open_files": 1.5})
    assert (error.field, error.message) == ("limits.open_files", "must be a whole number, got 1.5")


def test_limits_parse__unknown_limit_lists_the_known_ones() -> None:
    error = refused(Limits.parse, {"gpus": 1})
    assert error.field == "limits.gpus"
    assert error.message == "unknown limit; known: cpu_percent, cpu_seconds, memory_mb, open_files, wall_seconds"


def test_limits_parse__not_an_object() -> None:
    error = refused(Limits.parse, [("memory_mb", 1)])
    assert (error.field, error.message) == ("limits", "must be an object, got list")


def test_limits_parse__path_prefixes_the_field() -> None:
    assert refused(Limits.parse, {"memory_mb": -1}, "tasks[2].limits").field == "tasks[2].limits.memory_mb"


def test_limits_check_ceilings__over_the_ceiling_names_field_and_both_numbers() -> None:
    error = refused(Limits.parse({"memory_mb": 99999}).check_ceilings, CEILINGS)
    assert str(error) == "limits.memory_mb: 99999 exceeds the configured ceiling 16384"


def test_limits_check_ceilings__large_and_fractional_numbers_are_written_out() -> None:
    # :g would print 1.23457e+06, hiding the number the user actually sent
    error = refused(Limits.parse({"cpu_seconds": 1234567}).check_ceilings, CEILINGS)
    assert error.message == "1234567 exceeds the configured ceiling 86400"
    error = refused(Limits.parse({"memory_mb": 16384.5}).check_ceilings, CEILINGS)
    assert error.message == "16384.5 exceeds the configured ceiling 16384"


def test_limits_check_ceilings__at_the_ceiling_and_unbounded_limits_pass() -> None:
    Limits.parse({"memory_mb": 16384, "cpu_percent": 10**9}).check_ceilings(CEILINGS)
    Limits.parse({"memory_mb": 10**9}).check_ceilings(Limits())


def test_limits_merged__override_wins_per_limit() -> None:
    base = Limits.parse({"memory_mb": 100, "cpu_seconds": 5})
    merged = base.merged(Limits.parse({"memory_mb": 200}))
    assert merged.as_dict() == {"memory_mb": 200.0, "cpu_seconds": 5.0}


# ---------------------------------------------------------------- RetryPolicy


def test_retry_policy_parse__none_returns_the_default() -> None:
    default = RetryPolicy(max_attempts=7)
    assert RetryPolicy.parse(None, default) is default


def test_retry_policy_parse__overrides_only_what_is_given() -> None:
    policy = RetryPolicy.parse({"max_attempts": 5.0, "jitter": 0}, RetryPolicy(backoff=0.5))
    assert policy == RetryPolicy(max_attempts=5, backoff=0.5, factor=2.0, max_delay=300.0, jitter=0.0)
    assert isinstance(policy.max_attempts, int)


@pytest.mark.parametrize(("data", "field", "reason"), [
    ({"max_attempts": 0}, "retry.max_attempts", "must be greater than 0, got 0"),
    ({"max_attempts": 2.5}, "retry.max_attempts", "must be a whole number, got 2.5"),
    ({"max_attempts": True}, "retry.max_attempts", "must be a number, got bool"),
    ({"backoff": -1}, "retry.backoff", "must be greater than 0, got -1"),
    ({"max_delay": math.nan}, "retry.max_delay", "must be greater than 0, got nan"),
    ({"factor": 0.5}, "retry.factor", "must be at least 1, got 0.5"),
    ({"jitter": 1.5}, "retry.jitter", "must be a number from 0 to 1, got 1.5"),
    ({"jitter": -0.1}, "retry.jitter", "must be a number from 0 to 1, got -0.1"),
    ({"jitter": False}, "retry.jitter", "must be a number from 0 to 1, got False"),
    ({"attempts": 3}, "retry.attempts",
     "unknown retry option; known: backoff, factor, jitter, max_attempts, max_delay"),
])
def test_retry_policy_parse__bad_option_names_it(data: dict[str, Any], field: str, reason: str) -> None:
    error = refused(RetryPolicy.parse, data, RetryPolicy())
    assert (error.field, error.message) == (field, reason)


def test_retry_policy_parse__not_an_object() -> None:
    error = refused(RetryPolicy.parse, 3, RetryPolicy(), "skills.x.retry")
    assert (error.field, error.message) == ("skills.x.retry", "must be an object, got int")


# ---------------------------------------------------------------- TaskSpec


def test_task_spec_parse__full_spec() -> None:
    spec = TaskSpec.parse({
        "skill": "t.add", "params": {"a": 1, "b": 2}, "key": "sum:1", "depends_on": ["x", "y"],
        "limits": {"memory_mb": 64}, "retry": {"max_attempts": 2}, "timeout": 5, "queue": "q-1", "priority": 0,
    })
    assert spec == TaskSpec(skill="t.add", params={"a": 1, "b": 2}, key="sum:1", depends_on=("x", "y"),
                            limits=Limits(memory_mb=64.0), retry={"max_attempts": 2}, timeout=5, queue="q-1",
                            priority=0)


def test_task_spec_parse__defaults() -> None:
    assert TaskSpec.parse({"skill": "t.noop"}) == TaskSpec(skill="t.noop")


@pytest.mark.parametrize(("data", "field"), [
    ({"skill": "t.add", "prams": {}}, "prams"),
    ({}, "skill"),
    ({"skill": ""}, "skill"),
    ({"skill": 3}, "skill"),
    ({"skill": "t.add\x00"}, "skill"),
    ({"skill": "t.add\udfff"}, "skill"),
    ({"skill": "t." + "a" * 199}, "skill"),  # over the column, with or without an @version
    ({"skill": "t.add", "params": [1, 2]}, "params"),
    ({"skill": "t.add", "params": []}, "params"),
    ({"skill": "t.add", "params": ""}, "params"),
    ({"skill": "t.add", "params": {"x": math.nan}}, "params"),
    ({"skill": "t.add", "params": {"x": {1, 2}}}, "params"),
    ({"skill": "t.add", "key": "has space"}, "key"),
    ({"skill": "t.add", "key": "a" * 101}, "key"),
    ({"skill": "t.add", "key": "abc\n"}, "key"),
    ({"skill": "t.add", "key": 5}, "key"),
    ({"skill": "t.add", "depends_on": ["ok", "not ok"]}, "depends_on[1]"),
    ({"skill": "t.add", "depends_on": "ab"}, "depends_on"),
    ({"skill": "t.add", "depends_on": 5}, "depends_on"),
    ({"skill": "t.add", "depends_on": {"a": 1}}, "depends_on"),
    ({"skill": "t.add", "limits": {"memory_mb": -5}}, "limits.memory_mb"),
    ({"skill": "t.add", "timeout": 0}, "timeout"),
    ({"skill": "t.add", "timeout": -1}, "timeout"),
    ({"skill": "t.add", "timeout": "10"}, "timeout"),
    ({"skill": "t.add", "timeout": math.inf}, "timeout"),
    ({"skill": "t.add", "queue": "bad queue"}, "queue"),
    ({"skill": "t.add", "queue": "weft\n"}, "queue"),
    ({"skill": "t.add", "queue": ""}, "queue"),
    ({"skill": "t.add", "priority": 10}, "priority"),
    ({"skill": "t.add", "priority": -1}, "priority"),
    ({"skill": "t.add", "priority": 1.0}, "priority"),
    ({"skill": "t.add", "priority": True}, "priority"),
    ({"skill": "t.add", "retry": [1]}, "retry"),
])
def test_task_spec_parse__bad_field_is_named(data: Any, field: str) -> None:
    assert refused(TaskSpec.parse, data).field == field


def test_task_spec_parse__path_prefixes_every_field() -> None:
    assert refused(TaskSpec.parse, {"skill": "t.add", "priority": 10}, "tasks[3]").field == "tasks[3].priority"
    assert refused(TaskSpec.parse, {"skill": "t.add", "bogus": 1}, "tasks[3]").field == "tasks[3].bogus"
    assert refused(TaskSpec.parse, "t.add", "tasks[3]").field == "tasks[3]"
    assert refused(TaskSpec.parse, ["t.add"]).field == "task"


def test_task_spec_parse__unknown_field_lists_the_known_ones() -> None:
    error = refused(TaskSpec.parse, {"skill": "t.add", "bogus": 1})
    assert error.message == (
        "unknown field; known: capabilities, depends_on, key, limits, locks, params, priority, queue, retry, skill, "
        "timeout, version"
    )


def test_task_spec_validate__direct_construction_is_checked_too() -> None:
    assert refused(TaskSpec(skill="t.add", params={"a": object()}).validate).field == "params"
    assert refused(TaskSpec(skill="t.add", priority=12).validate, "tasks[0]").field == "tasks[0].priority"
    TaskSpec(skill="t.add", params={"a": [1, {"b": None}]}, priority=9, timeout=0.5).validate()


def test_task_spec__is_frozen() -> None:
    spec = TaskSpec(skill="t.add")
    with pytest.raises(AttributeError):
        spec.skill = "t.noop"  # type: ignore[misc]


# ---------------------------------------------------------------- check_params, check_json, check_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def test_check_params__valid_params_pass() -> None:
    check_params(SCHEMA, {"name": "x", "count": 2, "items": [{"id": 1}]})


@pytest.mark.parametrize(("params", "field", "in_message"), [
    ({"name": 5}, "params.name", "5 is not of type 'string'"),
    ({"name": "x", "count": 0}, "params.count", "0 is less than the minimum of 1"),
    ({"name": "x", "items": [{"id": 1}, {"id": "two"}]}, "params.items[1].id", "'two' is not of type 'integer'"),
    ({}, "params.name", "'name' is a required property"),
    ({"name": "x", "extra": 1}, "params", "'extra' was unexpected"),
])
def test_check_params__error_names_the_field_path(params: dict[str, Any], field: str, in_message: str) -> None:
    error = refused(check_params, SCHEMA, params, "params")
    assert error.field == field
    assert in_message in error.message


def test_check_params__path_prefix() -> None:
    assert refused(check_params, SCHEMA, {"name": 5}, "tasks[0].params").field == "tasks[0].params.name"


@pytest.mark.parametrize("value", [{"a": 1, "b": [1.5, None, True, "x"]}, [], "text", 0, None])
def test_check_json__json_values_pass(value: Any) -> None:
    check_json(value, "result")


@pytest.mark.parametrize("value", [object(), {"a": {1, 2}}, [math.nan], {"x": math.inf}, b"bytes"])
def test_check_json__non_json_is_refused_with_its_path(value: Any) -> None:
    error = refused(check_json, value, "result")
    assert error.field == "result"
    assert error.message.startswith("must be JSON-serialisable: ")


def test_check_schema__invalid_schema_is_refused() -> None:
    assert refused(check_schema, {"type": "no-such-type"}, "skills.x.params").field == "skills.x.params"
    assert refused(check_schema, ["type"]).message == "schema must be an object, got list"
    check_schema(SCHEMA)


@pytest.mark.parametrize(("value", "field"), [
    ("a\x00b", "result"),
    ({"a": ["ok", "x\x00"]}, "result.a[1]"),
    ({"key\x00": 1}, "result"),
])
def test_check_json__nul_character_is_refused_with_its_path(value: Any, field: str) -> None:
    # PostgreSQL's jsonb and text cannot store \u0000; the INSERT would fail with a DataError
    error = refused(check_json, value, "result")
    assert (error.field, error.message) == (field, "must not contain the NUL character (\\u0000)")


def test_check_json__escaped_text_that_only_looks_like_nul_passes() -> None:
    check_json({"a": "\\u0000"}, "result")


def test_check_json__too_deep_is_refused_not_crashed() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(5_000):  # well past the recursion limit (1000)
        node.append([])
        node = node[0]
    assert refused(check_json, deep, "result").field == "result"


# ---------------------------------------------------------------- what PostgreSQL cannot store (issue 10)


@pytest.mark.parametrize(("value", "field"), [
    ("a\ud800b", "result"),
    ({"a": ["ok", "x\udfff"]}, "result.a[1]"),
    ({"key\udc00": 1}, "result"),
])
def test_check_json__lone_surrogate_is_refused_with_its_path(value: Any, field: str) -> None:
    # psycopg cannot encode a lone surrogate as UTF-8: the INSERT would fail with a 500
    error = refused(check_json, value, "result")
    assert error.field == field
    assert error.message.startswith("must not contain a lone surrogate (\\u")


def test_check_json__characters_beyond_the_bmp_and_hangul_pass() -> None:
    # Both are escaped as \ud... in ASCII JSON (a surrogate pair; U+D4C0), and both are real characters
    check_json({"emoji": "\U0001f600", "hangul": "\ud4c0"}, "params")


def test_check_json__nesting_over_the_limit_is_refused_before_the_encoder_recurses() -> None:
    ok: Any = 1
    for _ in range(MAX_JSON_DEPTH):
        ok = [ok]
    check_json(ok, "params")
    error = refused(check_json, {"a": ok}, "params")
    assert (error.field, error.message) == ("params", f"is nested more than {MAX_JSON_DEPTH} levels deep")
    check_json([[1]] * 500, "params")  # many brackets, little depth


@pytest.mark.parametrize("text", ["a\x00", "\ud800", "ok\udbff!"])
def test_check_text__refuses_what_postgresql_cannot_store(text: str) -> None:
    assert refused(check_text, text, "reason").field == "reason"


def test_retry_policy__check_bounds() -> None:
    RetryPolicy(max_attempts=100, backoff=0.05, max_delay=0.05).check_bounds(100, 0.05)
    error = refused(RetryPolicy(max_attempts=10**9).check_bounds, 100, 0.05, "tasks[0].retry")
    assert str(error) == "tasks[0].retry.max_attempts: 1000000000 exceeds the configured ceiling 100"
    error = refused(RetryPolicy(backoff=0.001).check_bounds, 100, 0.05)
    assert str(error) == "retry.backoff: 0.001 s is below the configured floor 0.05 s"
    # a short cap makes every wait short, whatever the backoff
    assert refused(RetryPolicy(backoff=10, max_delay=0.001).check_bounds, 100, 0.05).field == "retry.max_delay"


# ---------------------------------------------------------------- deadlines (jobspec)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "message"), [
    ("9999-12-31T23:00:00-12:00", "9999-12-31T23:00:00-12:00 is out of range"),  # the year 10000 in UTC
    ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00+14:00 is out of range"),
    ("2026-06-01T11:00:00+00:00", "2026-06-01T11:00:00+00:00 is already past"),
    ("2027-01-01T00:00:00", "an ISO time needs a zone, e.g. 2026-01-01T12:00:00+00:00"),
    (1e20, "1e+20 s is too far ahead"),
    (math.inf, "must be greater than 0, got inf"),
    (-5, "must be greater than 0, got -5"),
    (True, "must be seconds or an ISO 8601 time, got True"),
])
def test_parse_deadline__refuses_what_no_row_could_hold(value: Any, message: str) -> None:
    error = refused(parse_deadline, value, NOW)
    assert (error.field, error.message) == ("budget.deadline", message)


def test_check_deadline__ceiling_in_days() -> None:
    check_deadline(NOW + timedelta(days=366), NOW, 366)
    error = refused(check_deadline, NOW + timedelta(days=366, seconds=1), NOW, 366)
    assert error.message == "2027-06-02T12:00:01+00:00 is more than 366 days ahead (the configured ceiling)"
    assert parse_deadline(3600, NOW) == NOW + timedelta(hours=1)


@pytest.mark.parametrize("name", ["", 3])
def test_parse__a_field_with_an_empty_or_non_text_name_is_refused_naming_the_whole(name: Any) -> None:
    # Hypothesis found it: {"": ...} was refused as field "", which names nothing.
    from weft_django.jobspec import JobSpec

    with pytest.raises(InvalidInput) as job_error:
        JobSpec.parse({name: 1, "tasks": [{"skill": "t.noop"}]})
    with pytest.raises(InvalidInput) as task_error:
        TaskSpec.parse({name: 1, "skill": "t.noop"}, "tasks[0]")
    assert (job_error.value.field, task_error.value.field) == ("job", "tasks[0]")
    assert f"unknown field {name!r}" in str(task_error.value)
