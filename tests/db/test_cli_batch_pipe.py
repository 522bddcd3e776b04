"""weft_batch's checks (every line before any is submitted; a bad one named by its line and field) and
weft_pipe's job shape (stage N+1 depends on stage N, and must be able to read its result)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from weft_django import service
from weft_django.exceptions import InvalidInput, UnknownSkill
from weft_django.models import Dependency, Job, Task

pytestmark = pytest.mark.django_db

GOOD = '{"skill": "t.add", "params": {"a": 1, "b": 2}}'
JOB = '{"tasks": [{"key": "x", "skill": "t.noop"}, {"key": "y", "skill": "t.sum_deps", "depends_on": ["x"]}]}'


def batch(tmp_path: Path, data: bytes) -> CommandError:
    path = tmp_path / "b.jsonl"
    path.write_bytes(data)
    with pytest.raises(CommandError) as err:
        call_command("weft_batch", "--file", str(path), stdout=io.StringIO())
    return err.value


@pytest.mark.parametrize(("third", "message"), [
    (b'{"skill": "t.add", "params": {"a": 1}}', "line 3: params.b: 'b' is a required property"),
    (b'{"skill": "t.nope"}', "line 3: skill: unknown skill 't.nope'"),
    (b'{"skill": "t.add", "params": {"a": 1, "b": 2}', "line 3: invalid JSON at column"),
    (b'{"skill": "t.echo", "params": {"text": "a\\u0000b"}}', "line 3: params.text: must not contain the NUL"),
    (b'{"skill": "t.echo", "params": {"text": "\\ud800"}}', "line 3: params.text: must not contain a lone surrogate"),
    (b'{"skill": "t.add", "params": {"a": NaN, "b": 1}}', "line 3: invalid JSON"),
    (b'{"skill": "t.add", "priority": 10000000000, "params": {"a": 1, "b": 2}}', "line 3: priority"),
    (b'{"skill": "t.noop", "timeout": "soon"}', "line 3: timeout"),
    (b"[1, 2]", "line 3: must be a JSON object"),
    (b'{"skill": "t.noop"}\xff', "line 3: is not UTF-8"),
    (b'{"tasks": [{"key": "a", "skill": "t.noop", "depends_on": ["a"]}]}', "line 3: "),
    (b'{"tasks": [{"key": "a", "skill": "t.add"}]}', "line 3: tasks[0].params"),
])
def test_weft_batch__a_bad_line_is_named_and_nothing_is_submitted(tmp_path: Path, third: bytes, message: str) -> None:
    err = batch(tmp_path, b"\n".join([GOOD.encode(), JOB.encode(), third, GOOD.encode()]) + b"\n")
    assert message in str(err), str(err)
    assert err.returncode == 1
    assert not Job.objects.exists() and not Task.objects.exists()


def test_read_batch__blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(f"\n{GOOD}\n\n{JOB}\n  \n")
    lines = service.read_batch(path)
    assert [ln.number for ln in lines] == [2, 4]
    assert batch(tmp_path, b"\n \n").args[0].startswith("file: b.jsonl holds no job")
    with pytest.raises(InvalidInput, match="parallel"):
        service.run_batch(lines, parallel=0)
    assert not Job.objects.exists()


def test_weft_batch__parallel_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(GOOD)
    for bad in ("0", "-1", "x", "1.5"):
        with pytest.raises(CommandError, match="parallel"):
            call_command("weft_batch", "--file", str(path), "--parallel", bad, stdout=io.StringIO())
    assert not Job.objects.exists()


def test_weft_pipe__each_stage_depends_on_the_one_before() -> None:
    out = io.StringIO()
    call_command("weft_pipe", "t.add a=1 b=2 | t.inc | t.inc by=10 text='a | b'", "--json", stdout=out)
    job = Job.objects.get(pk=json.loads(out.getvalue())["id"])
    tasks = {t.key: t for t in Task.objects.filter(job=job)}
    assert {k: (t.skill_name, t.params) for k, t in tasks.items()} == {
        "stage1": ("t.add", {"a": 1, "b": 2}), "stage2": ("t.inc", {}),
        "stage3": ("t.inc", {"by": 10, "text": "a | b"})}
    edges = set(Dependency.objects.filter(downstream__job=job).values_list("upstream__key", "downstream__key"))
    assert edges == {("stage1", "stage2"), ("stage2", "stage3")}
    assert job.name == "t.add a=1 b=2 | t.inc | t.inc by=10 text=a | b"


@pytest.mark.parametrize(("pipe", "field", "message"), [
    ("t.add a=1 b=2 | t.echo text=x", "stages[1]", "'t.echo' is a command skill"),
    ("t.add a=1 b=2 | t.noop", "stages[1]", "a function without a ctx argument"),
    ("t.add a=1 b=2 | | t.inc", "stages[1]", "is empty"),
    ("t.add a=1 b=2 || t.inc", "pipe", "not a stage separator"),
    ("t.add a=x b=2 | t.inc", "stages[0].params.a", "is not of type 'number'"),
    ("t.add a=1 | t.inc", "stages[0].params.b", "required"),
    ("t.add a=1 b=2 | t.inc by", "stages[1]", "expected KEY=VALUE"),
    ("t.add a=1 b=2 | t.inc 'by=1", "pipe", "cannot be read"),
    ("t.add a=1 b=2 | t.echo text=a\x00b", "pipe", "NUL"),
    ("t.add a=1 b=2 | t.inc by=\ud800", "pipe", "lone surrogate"),
    ("", "stages[0]", "is empty"),
])
def test_submit_pipe__refused_naming_the_stage_and_nothing_written(pipe: str, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        service.submit_pipe(pipe)
    assert err.value.field == field and message in err.value.message, err.value
    assert not Job.objects.exists()


def test_weft_pipe__an_unknown_skill_is_exit_code_2_naming_its_stage() -> None:
    with pytest.raises(UnknownSkill) as err:
        service.submit_pipe("t.add a=1 b=2 | t.nope")
    assert err.value.field == "stages[1].skill"
    with pytest.raises(CommandError) as cmd:
        call_command("weft_pipe", "t.nope", stdout=io.StringIO())
    assert cmd.value.returncode == 2
    assert not Job.objects.exists()
