"""Many jobs from a JSON Lines file (``manage.py weft_batch``): every line checked before any is submitted,
then submitted with at most ``parallel`` of them unfinished at a time, followed until each is final.

A line is one JSON object: a job spec (it has ``tasks``), or one task (``{"skill": ..., "params": ...}``
and the options of ``submit``). Blank lines are skipped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import skill_choice
from .exceptions import InvalidInput, WeftError
from .jobcheck import check_job
from .jobspec import JobSpec
from .lifecycle import submit as submission
from .models import Job
from .resolve import resolve
from .spec import TaskSpec
from .states import FINAL_JOB_STATES

MAX_LINES = 100_000  # a bigger batch is several files: the whole file is read and checked before submitting
POLL_SECONDS = 0.2


@dataclass
class Line:
    """One checked line: a job spec or a lone task, and what became of it."""

    number: int
    spec: JobSpec | TaskSpec
    job: int | None = None
    status: str = "waiting"  # waiting, then the job's status; "refused" if the submission refused it
    error: str = ""


@dataclass
class Progress:
    """What a batch did so far; ``lines`` in file order."""

    lines: list[Line]
    events: list[str] = field(default_factory=list)

    def count(self, *states: str) -> int:
        return sum(1 for ln in self.lines if ln.status in states)

    def counts(self) -> tuple[int, int, int]:
        """(lines done: their job final or refused, jobs running, lines refused)."""
        done = self.count("refused", *FINAL_JOB_STATES)
        running = sum(1 for ln in self.lines if ln.job is not None and ln.status not in FINAL_JOB_STATES)
        return done, running, self.count("refused")

    def summary(self) -> dict[str, Any]:
        return {"total": len(self.lines), "submitted": sum(1 for ln in self.lines if ln.job is not None),
                "succeeded": self.count("succeeded"), "refused": self.count("refused"),
                "unfinished": sum(1 for ln in self.lines if ln.job is not None and ln.status not in FINAL_JOB_STATES),
                "jobs": [{"line": ln.number, "id": ln.job, "status": ln.status, **({"error": ln.error} if ln.error
                                                                                    else {})} for ln in self.lines]}


def _in_line(n: int, exc: InvalidInput) -> InvalidInput:
    return InvalidInput(f"line {n}: {exc.field}" if exc.field else f"line {n}", exc.message)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_line(n: int, raw: bytes) -> Line:
    """One line of the file as a checked spec, or InvalidInput naming the line and the field."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"line {n}", f"is not UTF-8 (byte {exc.start + 1})") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"line {n}", "is nested too deep") from None
    except ValueError as exc:
        where = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InvalidInput(f"line {n}", f"invalid JSON{where}: {getattr(exc, 'msg', exc)}") from None
    try:
        if isinstance(data, dict) and "tasks" in data:
            return Line(n, check_job(data))
        if not isinstance(data, dict):
            raise InvalidInput("", f"must be a JSON object (a job spec or a task), got {type(data).__name__}")
        task = TaskSpec.parse(data)
        chosen = skill_choice.choose([("", task.skill, task.version)])[0]
        resolve(task, "", None, chosen)
        skill_choice.check_enabled([("", chosen)])
        return Line(n, task)
    except InvalidInput as exc:
        raise _in_line(n, exc) from None


def read_batch(path: str | Path) -> list[Line]:
    """Every non-blank line of the file, checked; the first bad one is refused (naming its line and field)
    and nothing is submitted."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidInput("file", f"cannot read {p}: {exc.strerror}") from None
    raws = data.splitlines()
    if len(raws) > MAX_LINES:
        raise InvalidInput("file", f"has {len(raws)} lines; at most {MAX_LINES} in one batch")
    lines = [check_line(n, raw) for n, raw in enumerate(raws, 1) if raw.strip()]
    if not lines:
        raise InvalidInput("file", f"{p.name} holds no job")
    return lines


def _submit(line: Line, owner: Any) -> None:
    try:
        if isinstance(line.spec, JobSpec):
            job = submission.submit_job(line.spec, owner=owner)
        else:
            job = submission.create_job([line.spec], submission.JobOptions(name=line.spec.skill, owner=owner),
                                        name_tasks=False)
    except WeftError as exc:  # a policy, or a skill disabled since the check: this line only
        line.status, line.error = "refused", " ".join(str(exc).split())
        return
    line.job, line.status = job.pk, job.status


def run_batch(lines: list[Line], *, parallel: int | None = None, owner: Any = None,
              on_change: Callable[[Progress, Line], None] | None = None,
              poll: float = POLL_SECONDS) -> Progress:
    """Submit the checked ``lines`` in order, at most ``parallel`` jobs unfinished at a time (None: all at
    once), and follow them until each is final. ``on_change(progress, line)`` is called when a line is
    submitted, refused or its job ends."""
    if parallel is not None and (isinstance(parallel, bool) or not isinstance(parallel, int) or parallel < 1):
        raise InvalidInput("parallel", f"must be a whole number of 1 or more, got {parallel!r}")
    progress = Progress(lines)
    waiting = list(lines)
    running: dict[int, Line] = {}
    while waiting or running:
        while waiting and (parallel is None or len(running) < parallel):
            line = waiting.pop(0)
            _submit(line, owner)
            if line.job is not None and line.status not in FINAL_JOB_STATES:
                running[line.job] = line
            if on_change:
                on_change(progress, line)
        if not running:
            continue
        ended = Job.objects.filter(pk__in=list(running), status__in=FINAL_JOB_STATES).values_list("pk", "status")
        for pk, status in ended:
            line = running.pop(pk)
            line.status = status
            if on_change:
                on_change(progress, line)
        if running and (not waiting or (parallel is not None and len(running) >= parallel)):
            time.sleep(poll)
    return progress
