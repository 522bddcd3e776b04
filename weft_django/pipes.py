"""A pipeline of skills as one job (``manage.py weft_pipe "a x=1 | b | c"``).

The mapping is the one a job already has, nothing new: stage N is the task keyed ``stageN``; stage N+1
depends on stage N and so runs after it succeeded, and a skill receives its dependencies' results in
``ctx.dependencies``, so stage N+1 reads the previous result as ``ctx.dependencies["stageN"]`` (its only
entry). A stage after the first must therefore be a Python skill that takes ``ctx``: a command skill, or a
function without ``ctx``, could never see its input, and is refused. A stage that fails fails the job and
skips the stages after it. The pipe's result is the last stage's.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from . import registry, reports
from .exceptions import InvalidInput, UnknownSkill
from .jobcheck import check_job
from .jobspec import MAX_TEXT, JobSpec
from .lifecycle import submit as submission
from .models import Job, Task
from .validators import check_text

MAX_STAGES = 100


def stage_key(n: int) -> str:
    """The task key of stage ``n`` (1-based)."""
    return f"stage{n}"


def _value(raw: str) -> Any:
    """``k=v``'s value: JSON when it parses (3, true, [1, 2]), else the text itself (as ``weft_run -p``)."""
    try:
        return json.loads(raw, parse_constant=lambda _: raw)
    except ValueError:
        return raw


def _words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError as exc:  # an unclosed quote
        raise InvalidInput("pipe", f"cannot be read: {exc}") from None


def parse_pipe(text: Any) -> dict[str, Any]:
    """``"skill k=v ... | skill ..."`` as job spec data (checked by ``pipe_spec``); shell quoting applies,
    so a value may hold spaces or ``|`` inside quotes."""
    if not isinstance(text, str):
        raise InvalidInput("pipe", f"must be a string, got {type(text).__name__}")
    check_text(text, "pipe")
    stages: list[list[str]] = [[]]
    for word in _words(text):
        if word and set(word) == {"|"}:
            if len(word) > 1:
                raise InvalidInput("pipe", f"{word!r} is not a stage separator (one | between stages)")
            stages.append([])
        else:
            stages[-1].append(word)
    if len(stages) > MAX_STAGES:
        raise InvalidInput("pipe", f"has {len(stages)} stages; at most {MAX_STAGES}")
    tasks = []
    for i, words in enumerate(stages):
        if not words:
            raise InvalidInput(f"stages[{i}]", "is empty: write a skill name between each |")
        params: dict[str, Any] = {}
        for word in words[1:]:
            key, sep, raw = word.partition("=")
            if not sep or not key:
                raise InvalidInput(f"stages[{i}]", f"expected KEY=VALUE after the skill, got {word!r}")
            params[key] = _value(raw)
        task: dict[str, Any] = {"key": stage_key(i + 1), "skill": words[0], "params": params}
        if i:
            task["depends_on"] = [stage_key(i)]
        tasks.append(task)
    name = " | ".join(" ".join(w) for w in stages)
    return {"name": name if len(name) <= MAX_TEXT else name[:MAX_TEXT - 3] + "...", "tasks": tasks}


def _stage_field(field: str) -> str:
    return field.replace("tasks[", "stages[", 1) if field.startswith("tasks[") else field


def pipe_spec(text: Any) -> JobSpec:
    """The pipe as a checked JobSpec: every stage's skill known and enabled, its params valid, and each
    stage after the first able to read its input (a Python skill taking ``ctx``). Errors name
    ``stages[i]`` (0-based), as ``tasks[i]`` in a job file."""
    data = parse_pipe(text)
    try:
        spec = check_job(data)
    except UnknownSkill as exc:
        raise UnknownSkill(exc.name, _stage_field(exc.field)) from None
    except InvalidInput as exc:
        raise InvalidInput(_stage_field(exc.field), exc.message) from None
    for i, task in enumerate(spec.tasks[1:], 1):
        definition = registry.get(task.skill, task.version)
        if definition.kind != "python" or not definition.wants_context:
            what = "a command skill" if definition.kind == "command" else "a function without a ctx argument"
            raise InvalidInput(f"stages[{i}]", f"{definition.name!r} is {what}: it could not read the previous "
                                               "stage's result (ctx.dependencies)")
    return spec


def submit_pipe(text: Any, *, owner: Any = None) -> Job:
    """Check the pipe whole, then submit it as one job (nothing is written on error)."""
    return submission.submit_job(pipe_spec(text), owner=owner)


def pipe_result(job_id: Any) -> Any:
    """The last stage's result (None until it has one)."""
    job = reports.get_job(job_id)
    last = Task.objects.filter(job_id=job.pk, parent__isnull=True).order_by("-pk").values_list("result", flat=True)
    return last.first()
