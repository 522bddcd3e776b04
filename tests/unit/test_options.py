"""The task options are declared once (weft_django/options.py): everything built from the declaration
carries every option, so an option declared and not wired fails here."""

from __future__ import annotations

import inspect
import re
import typing
from dataclasses import fields
from typing import Any

import pytest
from django.core.management import load_command_class
from django.db import models

from weft_django import options, registry, service
from weft_django.api.serializers import TaskSubmission
from weft_django.exceptions import InvalidInput
from weft_django.lifecycle import claim, rows, submit
from weft_django.models import Skill, Task
from weft_django.options import Form
from weft_django.resolve import resolve
from weft_django.spec import TaskSpec

NAMES = [o.name for o in options.OPTIONS]
# A value each form refuses, and one it takes (as plain data, the way a submission gives it).
BAD: dict[Form, Any] = {Form.LIMITS: {"memory_gb": 1}, Form.OBJECT: "often", Form.NUMBER: -1, Form.TEXT: "a b",
                        Form.RANK: 10, Form.LIST: "db:orders", Form.LABELS: ["no spaces"]}
GOOD: dict[Form, Any] = {Form.LIMITS: {"memory_mb": 64}, Form.OBJECT: {"max_attempts": 2}, Form.NUMBER: 5,
                         Form.TEXT: "q1", Form.RANK: 3, Form.LIST: ["db:orders"], Form.LABELS: ["gpu"]}
# The PostgreSQL type of each Django field class the option columns use.
SQL_TYPES = {models.JSONField: "jsonb", models.FloatField: "float8", models.CharField: "text",
             models.PositiveSmallIntegerField: "int"}



def test_the_declaration_names_the_options() -> None:
    assert {"limits", "retry", "timeout", "queue", "priority", "locks", "capabilities"} <= set(NAMES)
    assert len(set(options.COLUMNS)) == len(NAMES) == len(options.COLUMNS)
    assert all(o.form in BAD for o in options.OPTIONS)
    # The spec itself, not options: nothing merges them with a skill's or the settings'.
    assert not {"skill", "params", "key", "depends_on"} & set(NAMES)


def test_taskspec_and_skilldef_carry_every_option() -> None:
    for cls in (TaskSpec, registry.SkillDef):
        assert set(NAMES) <= {f.name for f in fields(cls)}, cls


def test_every_option_is_a_keyword_of_the_python_api() -> None:
    assert set(typing.get_type_hints(options.OptionArgs)) == set(NAMES)
    assert set(NAMES) <= set(inspect.signature(service.submit).parameters)


def test_every_option_is_a_field_of_the_submission_serializer() -> None:
    assert set(NAMES) <= set(TaskSubmission().fields)


def test_every_option_with_a_flag_is_an_option_of_weft_run() -> None:
    parser = load_command_class("weft_django", "weft_run").create_parser("manage.py", "weft_run")
    flags = {a.dest: a.option_strings for a in parser._actions}
    for o in options.OPTIONS:
        if o.cli is not None:
            assert flags[o.cli.dest] == [o.cli.flag], o.name


def test_every_option_has_a_column_of_its_declared_type_on_task_and_skill() -> None:
    for o in options.OPTIONS:
        field = Task._meta.get_field(o.column)
        assert SQL_TYPES[type(field)] == o.sql_type, o.name
        assert Skill._meta.get_field(o.column)


def _insert_columns(sql: str) -> list[str]:
    found = re.search(r"INSERT INTO weft_task \(([^)]*)\)", sql)
    assert found is not None
    return [c.strip() for c in found.group(1).split(",")]


@pytest.mark.parametrize("sql", [submit.SUBMIT, rows.INSERT_TASKS], ids=["SUBMIT", "INSERT_TASKS"])
def test_the_fast_path_inserts_every_option_column(sql: str) -> None:
    assert set(options.COLUMNS) <= set(_insert_columns(sql))


def test_both_claims_read_every_option_column() -> None:
    returning = re.search(r"RETURNING (.*), \(SELECT max_cost", claim.CLAIM)
    assert returning is not None
    assert {f"t.{c}" for c in options.COLUMNS} <= {c.strip() for c in returning.group(1).split(",")}
    assert set(options.COLUMNS) <= set(claim.CLAIM_FIELDS)


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_value_of_each_option_is_refused_naming_it(name: str) -> None:
    bad = BAD[options.BY_NAME[name].form]
    with pytest.raises(InvalidInput) as info:
        TaskSpec.parse({"skill": "t.noop", name: bad}, "tasks[0]")
    assert info.value.field.startswith(f"tasks[0].{name}")


@pytest.mark.parametrize("name", NAMES)
def test_each_option_is_resolved_into_the_task_row(name: str) -> None:
    spec = TaskSpec.parse({"skill": "t.noop", name: GOOD[options.BY_NAME[name].form]})
    resolved = resolve(spec)
    assert set(options.COLUMNS) <= set(resolved)
    assert resolved[name] != resolve(TaskSpec.parse({"skill": "t.noop"}))[name]  # the submission's counts


def test_a_skills_options_are_its_tasks_defaults(clean_registry: None) -> None:
    given = {o.name: GOOD[o.form] for o in options.OPTIONS}
    d = registry.command_skill("unit.opts", ["true"], **given)
    assert options.skill_row(d) == {"limits": {"memory_mb": 64}, "retry": {"max_attempts": 2}, "timeout": 5,
                                    "queue": "q1", "priority": 3, "locks": ["db:orders"], "capabilities": ["gpu"]}
    resolved = resolve(TaskSpec(skill="unit.opts"))
    assert {k: resolved[k] for k in ("limits", "timeout", "queue", "priority", "locks", "capabilities")} == {
        "limits": {"memory_mb": 64}, "timeout": 5, "queue": "q1+gpu", "priority": 3, "locks": ["db:orders"],
        "capabilities": ["gpu"]}
    assert resolved["retry"]["max_attempts"] == 2
    with pytest.raises(TypeError, match="unexpected keyword argument 'prio'"):
        registry.command_skill("unit.typo", ["true"], prio=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_skill_default_is_refused_at_registration(clean_registry: None, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        registry.register(registry.SkillDef(name="unit.bad", kind="command", argv=("true",),
                                            **options.parse_values({name: BAD[options.BY_NAME[name].form]},
                                                                   "skills.unit.bad.")))
    assert info.value.field.startswith(f"skills.unit.bad.{name}")
