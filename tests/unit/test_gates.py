"""Limits and locks as declared (gates.py) and the lock conflict function (globs.py): pure, no database."""

from __future__ import annotations

from typing import Any

import pytest

from weft_django import gates, registry
from weft_django.exceptions import InvalidInput
from weft_django.globs import conflicts
from weft_django.resolve import resolve
from weft_django.spec import TaskSpec


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("db:orders", "db:orders", True),
    ("db:orders", "db:users", False),
    ("a:x", "b:x", False),  # another namespace never conflicts
    ("orders", "orders", True),
    ("repo:src/app/**", "repo:src/app/models.py", True),
    ("repo:src/app/**", "repo:src/app/a/b/c.py", True),
    ("repo:src/app/**", "repo:src/app", True),  # the directory itself
    ("repo:src/app/**", "repo:src/apple", False),
    ("repo:src/app/**", "repo:src/lib/x.py", False),
    ("repo:src/*.py", "repo:src/a/b.py", False),  # * stops at /
    ("repo:src/*.py", "repo:src/b.py", True),
    ("repo:src/**/*.py", "repo:src/a/b.py", True),
    ("repo:src/**/*.py", "repo:src/b.py", True),  # **/ may be no directory at all
    ("repo:src/a*", "repo:src/*b", True),  # two globs: "src/ab" matches both
    ("repo:*.txt", "repo:*.py", False),
    ("repo:a*.txt", "repo:*b.txt", True),
    ("repo:src/a?", "repo:src/abc", False),
    ("repo:src/*/x", "repo:src/a/b/x", False),
    ("repo:src/**", "repo:docs/**", False),
    ("repo:**", "repo:anything/at/all", True),
])
def test_conflicts__globs_that_can_match_a_common_path(a: str, b: str, expected: bool) -> None:
    assert conflicts(a, b) is expected
    assert conflicts(b, a) is expected


@pytest.mark.parametrize(("text", "per_second"), [("10/m", 10 / 60), ("20/s", 20.0), ("100/h", 100 / 3600),
                                                   ("1/d", 1 / 86400), ("2.5 / sec", 2.5)])
def test_rate_parsing(text: str, per_second: float) -> None:
    assert gates.per_second(text) == pytest.approx(per_second)


@pytest.mark.parametrize("bad", ["10", "10/y", "0/s", "-1/s", "ten/m", 10, None])
def test_rate_parsing__refuses(bad: Any) -> None:
    with pytest.raises(ValueError):
        gates.per_second(bad)
    with pytest.raises(InvalidInput) as info:
        gates.parse_rate(bad if bad is not None else [None], "skills.s.rate")
    assert info.value.field.startswith("skills.s.rate")


def test_parse_concurrency__forms_and_errors_name_the_field() -> None:
    assert gates.parse_concurrency(5, "c") == (gates.ConcurrencyLimit(5),)
    assert gates.parse_concurrency([2, {"key": "{tenant_id}", "limit": 1}], "c") == (
        gates.ConcurrencyLimit(2), gates.ConcurrencyLimit(1, "{tenant_id}"))
    for bad, field in [(0, "c"), (True, "c"), ({"key": "{t}", "limit": "2"}, "c.limit"), ({"limit": 2}, "c.key"),
                       ({"key": "{t}", "limit": 2, "limmit": 3}, "c.limmit"), ({"key": "{t.x}", "limit": 1}, "c.key"),
                       ([1, 2], "c")]:
        with pytest.raises(InvalidInput) as info:
            gates.parse_concurrency(bad, "c")
        assert info.value.field == field, bad


def test_parse_locks__refuses_what_is_not_a_lock() -> None:
    assert gates.parse_locks(["db:orders", "repo:{path}/**"], "locks") == ("db:orders", "repo:{path}/**")
    for bad, field in [("db:orders", "locks"), ([1], "locks[0]"), (["has space"], "locks[0]"),
                       (["a:b:c"], "locks[0]"), (["x:{0}"], "locks[0]"), (["ns*:x"], "locks[0]"),
                       (["db:orders\n"], "locks[0]"),  # "$" let a trailing newline in
                       (["db:a\x00"], "locks[0]"), (["ok", "db:\ud800"], "locks[1]")]:  # NUL: no space, yet unstorable
        with pytest.raises(InvalidInput) as info:
            gates.parse_locks(bad, "locks")
        assert info.value.field == field, bad


def test_key_templating_from_params() -> None:
    assert gates.render("t-{tenant_id}-{n}", {"tenant_id": "acme", "n": 3}, "", "key") == "t-acme-3"
    with pytest.raises(InvalidInput) as info:
        gates.render("{tenant_id}", {}, "tasks[2].", "the concurrency key")
    assert info.value.field == "tasks[2].params.tenant_id"
    with pytest.raises(InvalidInput) as info:
        gates.render("{tenant_id}", {"tenant_id": {"a": 1}}, "", "the concurrency key")
    assert info.value.field == "params.tenant_id"
    found = gates.gates("s", gates.parse_concurrency([5, {"key": "{t}", "limit": 2}], "c"),
                        gates.parse_rate({"key": "api-{api}", "rate": "10/m"}, "r"), "q", 4, {"t": "x", "api": "b"}, "")
    assert found == {"concurrency": {"skill:s": 5, "key:x": 2, "queue:q": 4}, "rate": {"key:api-b": "10/m"}}


def test_registration_refuses_bad_limits_naming_the_field(clean_registry: None) -> None:
    cases: list[tuple[dict[str, Any], str]] = [({"concurrency": -1}, "skills.unit.g.concurrency"),
                          ({"rate": "fast"}, "skills.unit.g.rate"),
                          ({"rate": {"key": "{a}", "rate": "1/m", "burst": 2}}, "skills.unit.g.rate.burst"),
                          ({"locks": ["a b"]}, "skills.unit.g.locks[0]")]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as info:
            registry.command_skill("unit.g", ["true"], **kwargs)
        assert info.value.field == field, kwargs
    assert "unit.g" not in registry._skills  # nothing half-registered


def test_resolve__locks_are_the_skills_and_the_submissions_filled_from_params(clean_registry: None) -> None:
    registry.command_skill("unit.locked", ["echo", "{path}"], locks=["repo:{path}/**"],
                           concurrency={"key": "{path}", "limit": 1})
    got = resolve(TaskSpec(skill="unit.locked", params={"path": "src"}, locks=("db:orders",)))
    assert got["locks"] == ["repo:src/**", "db:orders"]
    assert got["gates"] == {"concurrency": {"key:src": 1}}
    assert got["governed"] is True
    plain = resolve(TaskSpec(skill="unit.locked", params={"path": "src"}))
    assert plain["locks"] == ["repo:src/**"]
    with pytest.raises(InvalidInput) as info:
        resolve(TaskSpec(skill="unit.locked", params={"path": "src"}, locks=("x:{missing}",)), "tasks[0]")
    assert info.value.field == "tasks[0].params.missing"
    registry.command_skill("unit.free", ["true"])
    assert resolve(TaskSpec(skill="unit.free"))["governed"] is False


def test_a_fanned_out_chunk_keeps_each_tasks_due_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker that publishes a chunk does so later than the submission: a countdown counted from then
    would make every rate-limited moment late (and the task would miss it)."""
    import time as clock

    from weft_django import dispatch, tasks

    got: list[Any] = []

    def send(items: list[Any]) -> int:
        got.extend(items)
        return len(items)

    monkeypatch.setattr(dispatch, "send", send)
    now = clock.time()
    tasks.fanout([[1, 0, "weft", 5, 30.0, now + 10.0], [2, 0, "weft", 5, 0.0, 0], [3, 0, "weft", 5, 4.0]])
    assert got[0].countdown == pytest.approx(10.0, abs=0.5)  # due in 10 s from now, not 30 s from the chunk
    assert got[1].countdown == 0.0
    assert got[2].countdown == 4.0  # a chunk of an older weft: its countdown as it was
