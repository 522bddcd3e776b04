"""Skill versions (versions.py, the registry): a pin names a version; without one the newest registered runs."""

from __future__ import annotations

import pytest

from weft_django import registry, versions
from weft_django.exceptions import InvalidInput, UnknownSkill
from weft_django.spec import TaskSpec


def test_split_pin__at_sign_and_option_agree_or_are_refused_naming_the_field() -> None:
    assert versions.split_pin("x@2", None) == ("x", "2")
    assert versions.split_pin("x@2", "2") == ("x", "2")
    assert versions.split_pin("x", "1.4.0") == ("x", "1.4.0")
    assert versions.split_pin("x", None) == ("x", None)
    for skill, version, field in (("x@2", "3", "tasks[0].version"), ("x@", None, "tasks[0].skill"),
                                  ("@2", None, "tasks[0].skill"), ("x", "two words", "tasks[0].version"),
                                  ("x", "", "tasks[0].version"), ("x", 2, "tasks[0].version"),
                                  ("x", "v" * 51, "tasks[0].version"), ("x@1\x00", None, "tasks[0].skill")):
        with pytest.raises(InvalidInput) as info:
            versions.split_pin(skill, version, "tasks[0]")  # type: ignore[arg-type]
        assert info.value.field == field, (skill, version)


def test_order_key__numbers_sort_as_numbers() -> None:
    assert versions.newest_first(["1", "10", "9", "1.10", "1.9", "2"]) == ["10", "9", "2", "1.10", "1.9", "1"]


def test_taskspec__parses_the_version_option_and_refuses_a_contradiction() -> None:
    assert TaskSpec.parse({"skill": "t.greet", "version": "1"}).version == "1"
    assert TaskSpec.parse({"skill": "t.greet@1"}).version is None  # the pin stays in the name; resolve reads it
    with pytest.raises(InvalidInput) as info:
        TaskSpec.parse({"skill": "t.greet@1", "version": "2"}, "tasks[3]")
    assert info.value.field == "tasks[3].version"


def test_registry__versions_side_by_side_and_the_newest_by_default(clean_registry: None) -> None:
    registry.command_skill("unit.v", ["echo", "one"], version="1")
    registry.command_skill("unit.v", ["echo", "ten"], version="10")
    registry.command_skill("unit.v", ["echo", "two"], version="2")  # registered last, not the newest
    assert registry.get("unit.v").version == "10"
    assert registry.get("unit.v", "2").argv == ("echo", "two")
    assert registry.get("unit.v@1").argv == ("echo", "one")
    assert registry.versions_of("unit.v") == ["10", "2", "1"]
    assert [d.version for d in registry.all_skills() if d.name == "unit.v"] == ["1", "2", "10"]
    with pytest.raises(UnknownSkill) as info:
        registry.get("unit.v", "3")
    assert info.value.message == "unknown skill 'unit.v@3' (registered versions: 10, 2, 1)"
    with pytest.raises(InvalidInput, match="already registered"):  # one version, one target
        registry.command_skill("unit.v", ["echo", "other"], version="2")
    with pytest.raises(InvalidInput) as refused:
        registry.command_skill("unit.v@3", ["echo"])
    assert refused.value.field == "name"
    with pytest.raises(InvalidInput) as bad:
        registry.command_skill("unit.w", ["echo"], version="1 0")
    assert bad.value.field == "skills.unit.w.version"


@pytest.mark.parametrize("bad", ["1\n", "", "-1", "1 ", "²", "x" * 51])
def test_check_version__refuses_what_is_not_a_version(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        versions.check_version(bad, "version")
    assert info.value.field == "version"
