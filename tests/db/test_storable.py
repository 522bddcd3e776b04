"""What the engine stores of an attempt (weft_django.storable), and report.record on both of its paths:
output cleaned, values PostgreSQL would refuse or over the cap turned into a failure that says why.

The database tests run inside the ``db`` fixture's transaction: nothing reaches the broker.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from django.db import DataError
from pytest_django import Settings

from weft_django import service, storable
from weft_django.execution import runner
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.models import Artifact, Attempt, Job, Task
from weft_django.outcomes import Observation, Outcome

LONE = "\ud800"


@pytest.mark.parametrize(("raw", "clean"), [
    ("plain", "plain"), ("a\x00b", "a\ufffdb"), (f"a{LONE}b\udfffc", "a\ufffdb\ufffdc"),
    ("ok \U0001f600", "ok \U0001f600"), (None, ""), (42, "42"),
])
def test_clean_text__replaces_nul_and_lone_surrogates(raw: Any, clean: str) -> None:
    assert storable.clean_text(raw) == clean


@pytest.mark.parametrize(("value", "problem"), [
    ({"a": [1, "x\x00"]}, ("NotSerializable", "result.a[1]: must not contain the NUL character (\\u0000)")),
    ({"a": {LONE: 1}}, ("NotSerializable", "result.a: must not contain a lone surrogate (\\ud800): it is not a "
                                           "character")),
    (float("nan"), ("NotSerializable", "result: must be JSON-serialisable: Out of range float values are not JSON "
                                       "compliant" + (": nan" if sys.version_info >= (3, 12) else ""))),  # json's text
    ("x" * 99, ("ResultTooLarge", "result is 101 bytes of JSON, over the cap of 100 bytes (WEFT_MAX_RESULT_BYTES)")),
])
def test_json_problem__names_where_and_why(value: Any, problem: tuple[str, str]) -> None:
    assert storable.json_problem(value, "result", 100) == problem


@pytest.mark.parametrize("value", ["x" * 98, "\\u0000", {"emoji": "\U0001f600"}, None])
def test_json_problem__storable_values_pass(value: Any) -> None:
    assert storable.json_problem(value, "result", 100) is None


def test_storable__size_counts_utf8_bytes() -> None:
    assert storable.json_problem("é" * 50, "result", 101) == (
        "ResultTooLarge", "result is 102 bytes of JSON, over the cap of 101 bytes (WEFT_MAX_RESULT_BYTES)")
    assert storable.json_problem("é" * 50, "result", None) is None


def test_storable__keeps_output_and_measurements_when_it_refuses_a_value() -> None:
    obs = Observation(Outcome.success(LONE, cost=1.0), stdout="out\x00", stderr=LONE, exit_code=0, duration=2.0)

    out = storable.storable(obs, None)

    assert (out.attempt_outcome, out.error_type, out.outcome.kind, out.outcome.retryable) == (
        "failed", "NotSerializable", "failure", False)
    assert (out.stdout, out.stderr, out.exit_code, out.duration, out.outcome.cost) == ("out\ufffd", "\ufffd", 0,
                                                                                       2.0, 1.0)


@pytest.mark.parametrize("cost", ["3", float("inf"), None])
def test_storable__refuses_a_cost_that_is_not_a_finite_number(cost: Any) -> None:
    out = storable.storable(Observation(Outcome("success", value=1, cost=cost)), None)
    assert (out.error_type, out.outcome.cost) == ("InvalidCost", 0.0)


def test_outcome_plus_cost__adds_what_the_skill_reported() -> None:
    assert Outcome.success(1, cost=2.0).plus_cost(1.5).cost == 3.5
    assert Outcome.failure("x").plus_cost(1.5).cost == 1.5
    assert Outcome("success", cost="bad").plus_cost(1.5).cost == "bad"  # type: ignore[arg-type]  # left to storable


# ---- report.record, on the one-statement fast path and on the ORM path ----


def claimed(skill: str = "t.add", **params: Any) -> claiming.Claimed:
    job = service.submit(skill, params or {"a": 1, "b": 2})
    c = claiming.claim(Task.objects.get(job=job).pk, 0)
    assert c is not None
    return c


@pytest.fixture(params=[True, False], ids=["fast_path", "orm"])
def path(request: pytest.FixtureRequest, settings: Settings) -> None:
    settings.WEFT_FAST_PATH = request.param


@pytest.mark.django_db
@pytest.mark.usefixtures("path")
def test_record__cleans_output_and_stores_the_result_once() -> None:
    c = claimed()

    assert report.record(c, Observation(Outcome.success(3), stdout=f"a\x00{LONE}", stderr="\x00")) == ("succeeded", "")

    attempt = Attempt.objects.get(pk=c.attempt_id)
    assert (attempt.outcome, attempt.stdout, attempt.stderr, attempt.result) == ("succeeded", "a\ufffd\ufffd",
                                                                                "\ufffd", None)
    assert Task.objects.get(pk=c.task_id).result == 3


@pytest.mark.django_db
@pytest.mark.usefixtures("path")
def test_record__refuses_a_result_over_the_cap(settings: Settings) -> None:
    settings.WEFT_MAX_RESULT_BYTES = 10
    c = claimed()

    assert report.record(c, Observation(Outcome.success("x" * 20), stdout="printed")) == ("failed", "ResultTooLarge")

    attempt, task = Attempt.objects.get(pk=c.attempt_id), Task.objects.get(pk=c.task_id)
    assert (task.status, task.result, attempt.result, attempt.stdout) == ("failed", None, None, "printed")
    assert attempt.error_message == "result is 22 bytes of JSON, over the cap of 10 bytes (WEFT_MAX_RESULT_BYTES)"


@pytest.mark.django_db
def test_record__refuses_an_artifact_over_the_cap(settings: Settings) -> None:
    settings.WEFT_MAX_RESULT_BYTES = 10
    c = claimed()

    report.record(c, Observation(Outcome.success(1, artifacts={"ok": 1, "log": "y" * 20})))

    attempt = Attempt.objects.get(pk=c.attempt_id)
    assert (attempt.error_type, attempt.error_message) == (
        "ResultTooLarge", "artifacts.log is 22 bytes of JSON, over the cap of 10 bytes (WEFT_MAX_RESULT_BYTES)")
    assert not Artifact.objects.exists()


@pytest.mark.django_db
def test_record__cleans_a_failure_and_a_block() -> None:
    c = claimed()
    report.record(c, Observation(Outcome.failure(f"bad {LONE}", retryable=False), "failed", f"E{LONE}",
                                 traceback="tb\x00"))
    attempt, task = Attempt.objects.get(pk=c.attempt_id), Task.objects.get(pk=c.task_id)
    assert (attempt.error_type, attempt.error_message, attempt.traceback) == ("E\ufffd", "bad \ufffd", "tb\ufffd")
    assert task.error == "E\ufffd: bad \ufffd"

    c = claimed()
    report.record(c, Observation(Outcome.blocked(f"waits \x00{LONE}"), "blocked"))
    assert Task.objects.get(pk=c.task_id).blocked_reason == "waits \ufffd\ufffd"


@pytest.mark.django_db
def test_record__children_the_database_would_refuse_fail_the_task() -> None:
    c = claimed()
    report.record(c, Observation(Outcome.decompose([{"skill": "t.add", "params": {"a": LONE, "b": 1}}]),
                                 "decomposed"))
    attempt = Attempt.objects.get(pk=c.attempt_id)
    assert (attempt.outcome, attempt.error_type) == ("failed", "NotSerializable")
    assert attempt.error_message.startswith("children[0].params.a: must not contain a lone surrogate")
    assert Task.objects.filter(job_id=c.job_id).count() == 1


@pytest.mark.django_db
def test_runner_record__a_refused_outcome_is_recorded_as_a_failure_not_left_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort, for whatever storable() does not foresee: the database refuses the first write."""
    c = claimed()
    real = report.record
    calls: list[Observation] = []

    def refuse_once(claim: claiming.Claimed, obs: Observation) -> tuple[str, str]:
        calls.append(obs)
        if len(calls) == 1:
            raise DataError("value too long for type character varying(200)")
        return real(claim, obs)

    monkeypatch.setattr(report, "record", refuse_once)

    assert runner.record(c, Observation(Outcome.success(3), stdout="out", duration=1.5)) == ("failed",
                                                                                              "RecordFailed")
    attempt, task = Attempt.objects.get(pk=c.attempt_id), Task.objects.get(pk=c.task_id)
    assert (task.status, attempt.outcome, attempt.duration, attempt.stdout) == ("failed", "failed", 1.5, "")
    assert attempt.error_message == ("the attempt's outcome could not be recorded: DataError: value too long for "
                                     "type character varying(200)")
    assert Job.objects.get(pk=c.job_id).status == "failed"
