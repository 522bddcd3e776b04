"""JobSpec: a set of keyed task specs with dependencies, a budget and labels (pure, no Django)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from .dag import check_graph
from .exceptions import ValidationError
from .spec import TaskSpec, _positive_number, check_json

JOB_FIELDS = {"name", "tasks", "budget", "labels", "idempotency_key"}
BUDGET_FIELDS = {"max_attempts", "deadline", "max_cost"}


@dataclass(frozen=True)
class JobSpec:
    """What a user submits: tasks (keyed, with ``depends_on``), a budget, labels, an idempotency key."""

    tasks: tuple[TaskSpec, ...]
    name: str = ""
    max_attempts: int | None = None
    max_cost: float | None = None
    deadline: datetime | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None

    @classmethod
    def parse(cls, data: Any, *, now: datetime | None = None) -> JobSpec:
        """Validate a whole job (shape, keys, graph) before anything is written; errors name the field."""
        if not isinstance(data, Mapping):
            raise ValidationError("job", f"must be an object, got {type(data).__name__}")
        for name in data:
            if name not in JOB_FIELDS:
                raise ValidationError(name, f"unknown field; known: {', '.join(sorted(JOB_FIELDS))}")
        raw_tasks = data.get("tasks")
        if not isinstance(raw_tasks, list) or not raw_tasks:
            raise ValidationError("tasks", "must be a non-empty list of task specs")
        tasks = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_tasks):
            spec = TaskSpec.parse(raw, f"tasks[{i}]")
            if spec.key is None:
                raise ValidationError(f"tasks[{i}].key", "is required in a job (dependencies name tasks by key)")
            if spec.key in seen:
                raise ValidationError(f"tasks[{i}].key", f"duplicate key {spec.key!r} (also tasks[{seen[spec.key]}])")
            seen[spec.key] = i
            tasks.append(spec)
        check_graph({t.key: t.depends_on for t in tasks if t.key is not None})
        budget = data.get("budget") or {}
        if not isinstance(budget, Mapping):
            raise ValidationError("budget", f"must be an object, got {type(budget).__name__}")
        for name in budget:
            if name not in BUDGET_FIELDS:
                raise ValidationError(f"budget.{name}", f"unknown budget; known: {', '.join(sorted(BUDGET_FIELDS))}")
        max_attempts = budget.get("max_attempts")
        max_cost = budget.get("max_cost")
        labels = data.get("labels") or {}
        if not isinstance(labels, Mapping):
            raise ValidationError("labels", "must be an object")
        check_json(labels, "labels")
        key = data.get("idempotency_key")
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
            raise ValidationError("idempotency_key", "must be a string of 1-200 characters")
        name = data.get("name") or ""
        if not isinstance(name, str) or len(name) > 200:
            raise ValidationError("name", "must be a string of at most 200 characters")
        return cls(
            tasks=tuple(tasks), name=name,
            max_attempts=None if max_attempts is None else int(
                _positive_number("budget.max_attempts", max_attempts, integer=True)),
            max_cost=None if max_cost is None else float(_positive_number("budget.max_cost", max_cost)),
            deadline=parse_deadline(budget.get("deadline"), now or datetime.now(UTC)),
            labels=dict(labels), idempotency_key=key,
        )


def parse_deadline(value: Any, now: datetime) -> datetime | None:
    """Seconds from now (a number) or an ISO 8601 time with a zone."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return now + timedelta(seconds=_positive_number("budget.deadline", value))
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError("budget.deadline", f"must be seconds or an ISO 8601 time, got {value!r}") from None
    else:
        raise ValidationError("budget.deadline", f"must be seconds or an ISO 8601 time, got {value!r}")
    if when.tzinfo is None:
        raise ValidationError("budget.deadline", "an ISO time needs a zone, e.g. 2026-01-01T12:00:00+00:00")
    if when <= now:
        raise ValidationError("budget.deadline", f"{when.isoformat()} is already past")
    return when


def load_file(path: str | Path) -> Any:
    """Read a job file (.json, or YAML otherwise); a syntax error names the line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValidationError("file", f"cannot read {p}: {exc.strerror}") from None
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("file", f"{p.name}: invalid JSON at line {exc.lineno}, column {exc.colno}: "
                                          f"{exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError("file", f"{p.name}: invalid YAML{where}: {problem}") from None
