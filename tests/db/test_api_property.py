"""Hypothesis over the HTTP API with bodies built from real registered skills (tests/testapp/skills.py).

tests/db/test_api_fuzz.py generates requests from the OpenAPI schema, but its random skill names are
refused before a name, a label or a budget is ever read: it never found the 500s of issue 10. Here every
body starts valid (a lone task or a job of real skills with real params) and then has a few fields
replaced by what breaks storage: NUL, lone surrogates, over-long strings, wrong types, numbers out of
range, deep nesting. Every answer must be a 2xx or a 4xx with a JSON body, and a 4xx writes no row.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.db.test_api import API, client_for, user
from weft_django.models import Decision, Dependency, Job, Task

pytestmark = pytest.mark.django_db

EXAMPLES = 300


def deep(n: int) -> Any:
    value: Any = "bottom"
    for _ in range(n):
        value = [value]
    return value


# What once reached the database (or the renderer) and failed there
BAD_STRINGS = st.sampled_from(["a\x00b", "\x00", "x\ud800", "\udfff", "\ud800\udc00", "x" * 201, "k" * 5000, "",
                               " ", "é\U0001f600", "-", "--output=x", "a\nb"])
BAD_NUMBERS = st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63, 10**30, 1e20, 1e308, -1e308, 0.001, 1e-300, 0.5,
                               True, False])
WRONG_TYPES = st.sampled_from([None, [], ["x"], {}, {"x": 1}, "text", 7, 1.5, True, deep(150)])
BAD = st.one_of(BAD_STRINGS, BAD_NUMBERS, WRONG_TYPES)
GOOD_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20).filter(
    lambda s: "\x00" not in s)


@st.composite
def task(draw: Any, key: str | None) -> dict[str, Any]:
    """One valid task of a real skill, with some of its optional fields."""
    skill = draw(st.sampled_from(["t.add", "t.echo", "t.noop", "t.flaky"]))
    params: dict[str, Any] = {
        "t.add": lambda: {"a": draw(st.integers(-10, 10)), "b": draw(st.floats(-1e6, 1e6))},
        "t.echo": lambda: {"text": draw(GOOD_TEXT)},
        "t.noop": lambda: {},
        "t.flaky": lambda: {"succeed_on": draw(st.integers(1, 3))},
    }[skill]()
    spec: dict[str, Any] = {"skill": skill, "params": params}
    if key is not None:
        spec["key"] = key
    if draw(st.booleans()):
        spec["priority"] = draw(st.integers(0, 9))
    if draw(st.booleans()):
        spec["timeout"] = draw(st.floats(1, 3600))
    if draw(st.booleans()):
        spec["limits"] = {"memory_mb": draw(st.integers(64, 1024))}
    if draw(st.booleans()):
        spec["retry"] = {"max_attempts": draw(st.integers(1, 10)), "backoff": draw(st.floats(0.05, 10))}
    if draw(st.booleans()):
        spec["queue"] = "weft-property-tests"
    return spec


@st.composite
def body(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):  # a lone task
        b = draw(task(None))
    else:
        n = draw(st.integers(1, 3))
        tasks = [draw(task(f"t{i}")) for i in range(n)]
        if n > 1 and draw(st.booleans()):
            tasks[-1]["depends_on"] = ["t0"]
        b = {"tasks": tasks}
        if draw(st.booleans()):
            b["budget"] = {"max_attempts": draw(st.integers(1, 50)), "deadline": draw(st.integers(60, 86400))}
    if draw(st.booleans()):
        b["name"] = draw(GOOD_TEXT)
    if draw(st.booleans()):
        b["labels"] = {"team": draw(GOOD_TEXT)}
    if draw(st.booleans()):
        b["idempotency_key"] = draw(st.text("abc", min_size=1, max_size=3))
    return b


# Where a bad value goes: (path, container kind); "tasks[0]" paths apply to the first task of either form
FIELDS = ["name", "idempotency_key", "labels", "labels.team", "labels.<key>", "params", "params.<value>",
          "params.<key>", "key", "skill", "queue", "priority", "timeout", "limits", "limits.memory_mb", "retry",
          "retry.max_attempts", "retry.backoff", "retry.max_delay", "retry.factor", "retry.jitter",
          "depends_on", "budget", "budget.max_attempts", "budget.max_cost", "budget.deadline", "tasks",
          "<unknown field>"]


def mutate(b: dict[str, Any], field: str, bad: Any) -> None:
    """Put ``bad`` at ``field`` of the body (of its first task for task fields)."""
    tasks = b.get("tasks")
    first = tasks[0] if isinstance(tasks, list) and tasks and isinstance(tasks[0], dict) else b
    head, _, tail = field.partition(".")
    if field == "<unknown field>":
        b[bad if isinstance(bad, str) else "colour"] = bad
    elif head in ("name", "idempotency_key", "tasks", "labels", "budget"):
        if not tail:
            b[head] = bad
        elif tail == "<key>":
            if isinstance(bad, str):
                b.setdefault(head, {})
                if isinstance(b[head], dict):
                    b[head][bad] = 1
        else:
            if not isinstance(b.get(head), dict):
                b[head] = {}
            b[head][tail] = bad
    elif not tail:
        first[head] = bad
    else:
        container = first.get(head)
        if not isinstance(container, dict):
            container = first[head] = {}
        if tail == "<key>":
            if isinstance(bad, str):
                container[bad] = 1
        elif tail == "<value>":
            container[next(iter(container), "x")] = bad
        else:
            container[tail] = bad


def rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Job, Task, Dependency, Decision))


def test_api__generated_bodies_of_real_skills_get_a_json_2xx_or_4xx_and_a_4xx_writes_nothing() -> None:
    c = client_for(user("prop"))
    seen: dict[int, int] = {}

    @given(b=body(), mutations=st.lists(st.tuples(st.sampled_from(FIELDS), BAD), max_size=3))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def post(b: dict[str, Any], mutations: list[tuple[str, Any]]) -> None:
        for field, bad in sorted(mutations, key=lambda m: m[0] == "tasks"):  # the task fields first
            mutate(b, field, bad)
        before = rows()
        # As a client has to send a lone surrogate: \ud800 escaped in the JSON text
        r = c.post(f"{API}/jobs/", json.dumps(b), content_type="application/json")

        assert r.status_code < 500, (b, r.status_code)
        assert r["Content-Type"] == "application/json", (b, r.status_code, r.content[:200])
        answer = r.json()
        if r.status_code >= 400:
            assert rows() == before, (b, answer)  # nothing half-written
            if r.status_code == 400:
                assert set(answer) == {"field", "detail"}, answer
        else:
            assert Job.objects.filter(pk=answer["id"]).exists()
        seen[r.status_code] = seen.get(r.status_code, 0) + 1

    post()
    # Both kinds of answer were exercised, not only refusals
    assert seen.get(201, 0) > 10 and seen.get(400, 0) > 10, seen
