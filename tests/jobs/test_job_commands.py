"""weft_submit / weft_cancel / weft_explain: bad job files get one precise error and write nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from weft_django.jobspec import JobSpec
from weft_django.models import Job, Task

pytestmark = pytest.mark.django_db


def submit_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    out = io.StringIO()
    call_command("weft_submit", "--file", str(path), "--json", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.yaml", "tasks:\n  - key: a\n    skill: t.noop\n   depends_on: [b]\n", "invalid YAML at line 4"),
    ("bad.json", '{"tasks": [\n {"key": "a",\n "skill": "t.noop"\n ]}', "invalid JSON at line 4"),
    ("dup.yaml", "tasks:\n  - {key: a, skill: t.noop}\n  - {key: a, skill: t.noop}\n",
     "tasks[1].key: duplicate key 'a' (also tasks[0])"),
    ("unknown.yaml", "tasks:\n  - {key: a, skill: t.noop, depends_on: [zz]}\n",
     "tasks.a.depends_on: unknown task key 'zz'"),
    ("cycle.yaml",
     "tasks:\n  - {key: a, skill: t.noop, depends_on: [b]}\n  - {key: b, skill: t.noop, depends_on: [a]}\n",
     "dependency cycle: a -> b -> a"),
    ("self.yaml", "tasks:\n  - {key: a, skill: t.noop, depends_on: [a]}\n", "task 'a' depends on itself"),
    ("budget.yaml", "budget: {max_attempts: 0}\ntasks:\n  - {key: a, skill: t.noop}\n",
     "budget.max_attempts: must be greater than 0"),
    ("cost.yaml", "budget: {max_cost: -1}\ntasks:\n  - {key: a, skill: t.noop}\n", "budget.max_cost: must be greater"),
    ("deadline.yaml", "budget: {deadline: -5}\ntasks:\n  - {key: a, skill: t.noop}\n", "budget.deadline"),
    ("skill.yaml", "tasks:\n  - {key: a, skill: t.nope}\n", "unknown skill 't.nope'"),
    ("params.yaml", "tasks:\n  - {key: a, skill: t.add, params: {a: 1}}\n", "tasks[0].params.b: 'b' is a required"),
])
def test_weft_submit__bad_file_is_one_error_and_writes_nothing(
    tmp_path: Path, name: str, text: str, message: str,
) -> None:
    with pytest.raises(CommandError, match=None) as err:
        submit_file(tmp_path, name, text)
    assert message in str(err.value)
    assert err.value.returncode == (2 if "unknown skill" in message else 1)
    assert Job.objects.count() == 0 and Task.objects.count() == 0


def test_weft_submit__valid_file_creates_the_job(tmp_path: Path) -> None:
    out = submit_file(tmp_path, "ok.yaml", "name: pair\nbudget: {max_attempts: 4, deadline: 600}\ntasks:\n"
                      "  - {key: a, skill: t.add, params: {a: 1, b: 2}}\n"
                      "  - {key: b, skill: t.noop, depends_on: [a]}\n")
    data = json.loads(out)
    job = Job.objects.get(pk=data["id"])
    assert (job.name, job.tasks_total, job.max_attempts) == ("pair", 2, 4)
    assert dict(Task.objects.filter(job=job).values_list("key", "status")) == {"a": "queued", "b": "pending"}


def test_weft_cancel_and_explain__unknown_id_exit_2() -> None:
    for command in ("weft_cancel", "weft_explain"):
        with pytest.raises(CommandError) as err:
            call_command(command, "987654")
        assert err.value.returncode == 2
        assert "no job with id" in str(err.value)


def test_weft_cancel__cancels_idle_job_and_explain_says_so(tmp_path: Path) -> None:
    data = json.loads(submit_file(tmp_path, "j.json", json.dumps({"tasks": [{"key": "a", "skill": "t.noop"}]})))
    out = io.StringIO()
    call_command("weft_cancel", str(data["id"]), stdout=out)
    assert "cancel requested" in out.getvalue()
    assert Job.objects.get(pk=data["id"]).status == "cancelled"
    out = io.StringIO()
    call_command("weft_explain", str(data["id"]), stdout=out)
    assert "Cause: cancelled by request" in out.getvalue()


def test_jobspec__deadline_must_have_a_zone() -> None:
    from weft_django.exceptions import ValidationError

    with pytest.raises(ValidationError, match="needs a zone"):
        JobSpec.parse({"budget": {"deadline": "2099-01-01T00:00:00"}, "tasks": [{"key": "a", "skill": "t.noop"}]})
