"""Hypothesis over whole jobs: any mix of valid-shaped settings (whole or fractional numbers, defaults or
not) is written as given, or refused with a InvalidInput; never another exception, never half a job."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.db.test_api_property import BAD, FIELDS, mutate, rows
from tests.db.test_api_property import body as api_body
from weft_django import service
from weft_django.exceptions import InvalidInput
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db

numbers = st.one_of(st.integers(min_value=-5, max_value=100_000),
                    st.floats(min_value=-5, max_value=100_000, allow_nan=False))
maybe = st.one_of(st.none(), numbers)


@st.composite
def task(draw: Any, key: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"key": key, "queue": "weft-property-tests"}
    if draw(st.booleans()):
        spec |= {"skill": "t.add", "params": {"a": draw(numbers), "b": draw(numbers)}}
    else:
        spec["skill"] = "t.noop"
    for name, value in (("timeout", draw(maybe)), ("priority", draw(st.one_of(st.none(), st.integers(-1, 10))))):
        if value is not None:
            spec[name] = value
    limits = draw(st.dictionaries(st.sampled_from(["memory_mb", "cpu_seconds", "wall_seconds", "open_files"]),
                                  numbers, max_size=3))
    if limits:
        spec["limits"] = limits
    if draw(st.booleans()):
        spec["retry"] = {"max_attempts": draw(st.integers(0, 12)), "backoff": draw(numbers)}
    return spec


@st.composite
def job(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(1, 5))
    tasks = [draw(task(f"t{i}")) for i in range(n)]
    for i in range(1, n):  # dependencies only on earlier tasks: acyclic by construction
        ups = draw(st.lists(st.sampled_from([f"t{j}" for j in range(i)]), unique=True, max_size=2))
        if ups:
            tasks[i]["depends_on"] = ups
    return {"tasks": tasks}


@given(spec=job())
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_submit_job__written_as_given_or_refused_with_the_field(spec: dict[str, Any]) -> None:
    before = Job.objects.count(), Task.objects.count()
    try:
        created = service.submit_job(spec)
    except InvalidInput as exc:
        assert exc.field  # says which field
        assert (Job.objects.count(), Task.objects.count()) == before  # nothing half-written
        return
    rows = {t.key: t for t in Task.objects.filter(job=created)}
    assert set(rows) == {t["key"] for t in spec["tasks"]}
    for t in spec["tasks"]:
        row = rows[t["key"]]
        assert row.params == t.get("params", {})
        if "timeout" in t:
            assert row.timeout == float(t["timeout"])
        if "priority" in t:
            assert row.priority == t["priority"]
        for name, value in t.get("limits", {}).items():
            assert row.limits[name] == value
        assert row.status == ("pending" if t.get("depends_on") else "queued")


@given(b=api_body(), mutations=st.lists(st.tuples(st.sampled_from(FIELDS), BAD), max_size=3))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_submit_job__bodies_of_real_skills_with_bad_fields_are_written_or_refused_whole(
        b: dict[str, Any], mutations: list[tuple[str, Any]]) -> None:
    """The HTTP API's property test (tests/db/test_api_property.py) through the Python API: a InvalidInput
    naming the field, or a job; never another exception, never a row on a refusal."""
    if "tasks" not in b:  # a lone task's body, as a job of one task
        job_fields: dict[str, Any] = {k: b.pop(k) for k in ("name", "labels", "idempotency_key") if k in b}
        b = {**job_fields, "tasks": [{**b, "key": "solo"}]}
    for field, bad in sorted(mutations, key=lambda m: m[0] == "tasks"):
        mutate(b, field, bad)
    before = rows()
    try:
        created = service.submit_job(b)
    except InvalidInput as exc:
        assert exc.field  # names what was wrong
        assert rows() == before
        return
    assert Job.objects.filter(pk=created.pk).exists()
