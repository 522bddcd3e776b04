"""weft_template: saved job specs with {placeholders}, checked like a submission at create (a template that
could never run is refused naming the field, and nothing is saved), filled and submitted at run."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from weft_django import service
from weft_django.exceptions import InvalidInput, UnknownId
from weft_django.models import Job, JobTemplate, Task

pytestmark = pytest.mark.django_db


def run(*argv: str) -> Any:
    out = io.StringIO()
    call_command("weft_template", *argv, "--json", stdout=out)
    return json.loads(out.getvalue())


def spec_file(tmp_path: Path, spec: Any, name: str = "t.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return str(path)


PAIR = {"name": "sum {who}", "tasks": [
    {"key": "a", "skill": "t.add", "params": {"a": "{a}", "b": 2}},
    {"key": "b", "skill": "t.echo", "params": {"text": "hello {who}, {{literal}}"}, "depends_on": ["a"]},
]}


def test_weft_template__create_list_show_run_delete(tmp_path: Path) -> None:
    saved = run("create", "pair", "--file", spec_file(tmp_path, PAIR), "-p", "a=1", "--description", "a pair")
    assert saved["placeholders"] == {"a": "tasks[0].params.a", "who": "name"}
    assert saved["defaults"] == {"a": 1}
    assert [r["name"] for r in run("list")] == ["pair"]
    assert run("show", "pair")["spec"] == PAIR

    job = run("run", "pair", "-p", "who=ann", "-p", "a=40")
    row = Job.objects.get(pk=job["id"])
    assert row.name == "sum ann" and row.labels == {"template": "pair"}
    params = dict(Task.objects.filter(job=row).values_list("key", "params"))
    # A whole-string placeholder keeps the value's type (40, a number); inside a string it is its text.
    assert params == {"a": {"a": 40, "b": 2}, "b": {"text": "hello ann, {literal}"}}
    default = Job.objects.get(pk=run("run", "pair", "-p", "who=bob")["id"])
    assert Task.objects.get(job=default, key="a").params == {"a": 1, "b": 2}

    assert run("delete", "pair") == {"name": "pair", "deleted": True}
    assert not JobTemplate.objects.exists()
    with pytest.raises(CommandError) as err:
        run("delete", "pair")
    assert err.value.returncode == 2


@pytest.mark.parametrize(("spec", "defaults", "field"), [
    ({"tasks": [{"key": "a", "skill": "t.nope"}]}, {}, "tasks[0].skill"),
    # t.add's a is a number: a placeholder standing alone without a default could only ever be text.
    ({"tasks": [{"key": "a", "skill": "t.add", "params": {"a": "{a}", "b": 1}}]}, {}, "tasks[0].params.a"),
    ({"tasks": [{"key": "a", "skill": "t.add", "params": {"a": "{a}", "b": 1}}]}, {"a": "x"}, "tasks[0].params.a"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "timeout": "{t}"}]}, {}, "tasks[0].timeout"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "depends_on": ["zz"]}]}, {}, "tasks.a.depends_on"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": "{0}"}}]}, {}, "tasks[0].params.x"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": "{a"}}]}, {}, "tasks[0].params.x"),
    ({"tasks": [{"key": "a", "skill": "t.noop"}], "surprise": 1}, {}, "surprise"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": "{v}"}}]}, {"w": 1}, "defaults.w"),
    ({"tasks": [{"key": "a", "skill": "t.noop", "params": {"x": "a\x00b"}}]}, {}, "spec.tasks[0].params.x"),
])
def test_weft_template__a_template_that_could_never_run_is_refused_naming_the_field(
    spec: Any, defaults: dict[str, Any], field: str,
) -> None:
    with pytest.raises(InvalidInput) as err:
        service.create_template("bad", spec, defaults=defaults)
    assert err.value.field == field
    assert not JobTemplate.objects.exists()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"name": "sp ace"}, "name"),
    ({"name": 7}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"description": "a\x00b"}, "description"),
    ({"description": "\ud800"}, "description"),
    ({"description": ["list"]}, "description"),
    ({"spec": ["not", "an", "object"]}, "spec"),
    ({"defaults": {"a": "\ud800"}}, "defaults"),
    ({"defaults": {"a": float("nan")}}, "defaults"),
    ({"defaults": "a=1"}, "defaults"),
])
def test_create_template__bad_input_names_the_field_and_saves_nothing(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"name": "ok", "spec": {"tasks": [{"key": "a", "skill": "t.echo",
                                                             "params": {"text": "{a}"}}]}, **kwargs}
    with pytest.raises(InvalidInput) as err:
        service.create_template(args.pop("name"), args.pop("spec"), **args)
    assert err.value.field.startswith(field)
    assert not JobTemplate.objects.exists()


def test_run_template__params_are_checked_and_nothing_is_submitted_on_error() -> None:
    service.create_template("echo", {"tasks": [{"key": "a", "skill": "t.echo", "params": {"text": "{text}"}}]})
    for params, field in [({}, "params.text"), ({"text": "x", "other": 1}, "params.other"),
                          ({"text": "a\x00b"}, "params"), ({"text": "\udfff"}, "params"), ("text=x", "params"),
                          ({"text": {"a": 1}}, "tasks[0].params.text")]:
        with pytest.raises(InvalidInput) as err:
            service.run_template("echo", params)
        assert err.value.field.startswith(field), (params, err.value)
    with pytest.raises(UnknownId):
        service.run_template("nope", {})
    assert not Job.objects.exists()
    assert Task.objects.get(job=service.run_template("echo", {"text": "x y"})).params == {"text": "x y"}


def test_weft_template__a_second_create_of_a_name_is_refused_unless_replaced(tmp_path: Path) -> None:
    one = {"tasks": [{"key": "a", "skill": "t.noop"}]}
    two = {"tasks": [{"key": "b", "skill": "t.noop"}]}
    run("create", "x", "--file", spec_file(tmp_path, one))
    with pytest.raises(CommandError, match="name: a template named 'x' exists"):
        run("create", "x", "--file", spec_file(tmp_path, two))
    assert JobTemplate.objects.get(name="x").spec == one
    run("create", "x", "--file", spec_file(tmp_path, two), "--replace")
    assert JobTemplate.objects.get(name="x").spec == two
