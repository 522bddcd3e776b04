"""A loop's definition is checked when it is registered, naming the field (loops.py)."""

from __future__ import annotations

from typing import Any

import pytest

from weft_django.exceptions import InvalidInput
from weft_django.loops import LoopSpec, Step, _spec, _validate


@pytest.mark.parametrize("kwargs,field", [
    ({"max_iterations": 0}, "skills.l.max_iterations"),
    ({"max_iterations": True}, "skills.l.max_iterations"),
    ({"max_iterations": 10_001}, "skills.l.max_iterations"),
    ({"validate": "pytest -q"}, "skills.l.validate"),  # a shell line, not an argv
    ({"validate": []}, "skills.l.validate"),
    ({"budget": {"tokens": 0}}, "skills.l.budget.tokens"),
    ({"budget": {"tokens": 1.5}}, "skills.l.budget.tokens"),
    ({"budget": {"cost": -1}}, "skills.l.budget.cost"),
    ({"budget": {"money": 1}}, "skills.l.budget"),
    ({"budget": [1]}, "skills.l.budget"),
    ({"validate_timeout": 0}, "skills.l.validate_timeout"),
])
def test_a_bad_loop_definition_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"validate": ["true"], "max_iterations": 3, "budget": None, "validate_timeout": 10.0,
                            **kwargs}
    with pytest.raises(InvalidInput) as info:
        _spec("l", args["validate"], args["max_iterations"], args["budget"], args["validate_timeout"])
    assert info.value.field == field


def test_a_command_validation_passes_on_exit_status_zero_and_keeps_its_output() -> None:
    it = Step(1, 3, [], ctx=None)
    ok = LoopSpec(3, ("sh", "-c", "echo checked {name}; exit 0"))
    bad = LoopSpec(3, ("sh", "-c", "echo 3 tests failing >&2; exit 1"))
    assert _validate(ok, None, it, {"name": "x"}) == (True, "checked x\n")
    assert _validate(bad, None, it, {}) == (False, "3 tests failing\n")


def test_a_callable_validation_may_say_why() -> None:
    it = Step(2, 3, [], ctx=None)
    assert _validate(LoopSpec(3, lambda r, it: (r > 1, f"{r} > 1?")), 2, it, {}) == (True, "2 > 1?")
    assert _validate(LoopSpec(3, lambda r, it: r > 5), 2, it, {}) == (False, "failed")


@pytest.mark.parametrize("kwargs,field", [
    ({"repo": "relative/path"}, "skills.a.repo"),
    ({"ref": "--upload-pack=x"}, "skills.a.ref"),  # never an option to git
    ({"validate": "make test"}, "skills.a.validate"),  # a shell line, not an argv
    ({"evidence": ["../../etc/passwd"]}, "skills.a.evidence[0]"),
    ({"evidence": "NOTES.md"}, "skills.a.evidence"),
])
def test_an_agent_skill_is_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    from weft_django.workspace_spec import Workspace

    args: dict[str, Any] = {"repo": "/srv/repo", "ref": "HEAD", "validate": None, "evidence": (), **kwargs}
    with pytest.raises(InvalidInput) as info:
        Workspace.parse(args["repo"], args["ref"], args["validate"], args["evidence"], True, "skills.a")
    assert info.value.field == field
