"""JobSpec: a set of keyed task specs with dependencies, a budget and labels (pure, no Django)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .dag import check_graph
from .exceptions import InvalidInput
from .spec import MAX_INT, TaskSpec, _number, _positive_number, check_json, check_text, unknown_field
from .validators import MAX_TEXT, MAX_TOKENS

JOB_FIELDS = {"name", "tasks", "budget", "labels", "idempotency_key"}
BUDGET_FIELDS = {"max_attempts", "deadline", "max_cost", "max_tokens"}
# WEFT_MAX_DEADLINE_DAYS (checked at submission) may be at most this: far enough for anyone, near enough
# that now + the ceiling stays a date. Seconds beyond it are refused while parsing (timedelta would overflow).
MAX_DEADLINE_DAYS = 36500
MAX_DEADLINE_SECONDS = MAX_DEADLINE_DAYS * 86400


@dataclass(frozen=True)
class JobSpec:
    """What a user submits: tasks (keyed, with ``depends_on``), a budget, labels, an idempotency key."""

    tasks: tuple[TaskSpec, ...]
    name: str = ""
    max_attempts: int | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    deadline: datetime | None = None
    labels: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None

    @classmethod
    def parse(cls, data: Any, *, now: datetime | None = None) -> JobSpec:
        """Validate a whole job (shape, keys, graph) before anything is written; errors name the field."""
        if not isinstance(data, Mapping):
            raise InvalidInput("job", f"must be an object, got {type(data).__name__}")
        for name in data:
            if name not in JOB_FIELDS:
                raise unknown_field(name, "", "job", JOB_FIELDS)
        raw_tasks = data.get("tasks")
        if not isinstance(raw_tasks, list) or not raw_tasks:
            raise InvalidInput("tasks", "must be a non-empty list of task specs")
        tasks = []
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_tasks):
            spec = TaskSpec.parse(raw, f"tasks[{i}]")
            if spec.key is None:
                raise InvalidInput(f"tasks[{i}].key", "is required in a job (dependencies name tasks by key)")
            if spec.key in seen:
                raise InvalidInput(f"tasks[{i}].key", f"duplicate key {spec.key!r} (also tasks[{seen[spec.key]}])")
            seen[spec.key] = i
            tasks.append(spec)
        check_graph({t.key: t.depends_on for t in tasks if t.key is not None})
        budget = data.get("budget") or {}
        if not isinstance(budget, Mapping):
            raise InvalidInput("budget", f"must be an object, got {type(budget).__name__}")
        for name in budget:
            if name not in BUDGET_FIELDS:
                raise InvalidInput(f"budget.{name}", f"unknown budget; known: {', '.join(sorted(BUDGET_FIELDS))}")
        labels = data.get("labels")
        name = data.get("name")
        key = data.get("idempotency_key")
        max_attempts = budget.get("max_attempts")
        max_cost, max_tokens = budget.get("max_cost"), budget.get("max_tokens")
        check_job_fields(name=name, labels=labels, idempotency_key=key, max_attempts=max_attempts, max_cost=max_cost,
                         max_tokens=max_tokens)
        return cls(
            tasks=tuple(tasks), name=name or "",
            max_attempts=None if max_attempts is None else int(max_attempts),
            max_cost=None if max_cost is None else float(max_cost),
            max_tokens=None if max_tokens is None else int(max_tokens),
            deadline=parse_deadline(budget.get("deadline"), now or datetime.now(UTC)),
            labels=dict(labels or {}), idempotency_key=key,
        )


def check_job_fields(*, name: Any, labels: Any, idempotency_key: Any, max_attempts: Any, max_cost: Any,
                     max_tokens: Any = None) -> None:
    """The job-level fields of any submission (JobSpec, ``submit()``, the HTTP API, the commands): each
    refusal names its field, and whatever passes fits its column."""
    if name is not None:
        if not isinstance(name, str) or len(name) > MAX_TEXT:
            raise InvalidInput("name", f"must be a string of at most {MAX_TEXT} characters")
        check_text(name, "name")
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not 0 < len(idempotency_key) <= MAX_TEXT:
            raise InvalidInput("idempotency_key", f"must be a string of 1-{MAX_TEXT} characters")
        check_text(idempotency_key, "idempotency_key")
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise InvalidInput("labels", f"must be an object, got {type(labels).__name__}")
        check_json(labels, "labels")
    if max_attempts is not None:
        _positive_number("budget.max_attempts", max_attempts, integer=True)
        if max_attempts > MAX_INT:
            raise InvalidInput("budget.max_attempts", f"must be at most {MAX_INT}, got {max_attempts!r}")
    if max_cost is not None:
        _positive_number("budget.max_cost", max_cost)
    if max_tokens is not None:
        _positive_number("budget.max_tokens", max_tokens, integer=True)
        if max_tokens > MAX_TOKENS:
            raise InvalidInput("budget.max_tokens", f"must be at most {MAX_TOKENS}, got {max_tokens!r}")


def parse_deadline(value: Any, now: datetime) -> datetime | None:
    """Seconds from now (a number) or an ISO 8601 time with a zone."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = _positive_number("budget.deadline", value)
        if seconds > MAX_DEADLINE_SECONDS:
            raise InvalidInput("budget.deadline", f"{_number(seconds)} s is too far ahead")
        return now + timedelta(seconds=seconds)
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput("budget.deadline", f"must be seconds or an ISO 8601 time, got {value!r}") from None
    else:
        raise InvalidInput("budget.deadline", f"must be seconds or an ISO 8601 time, got {value!r}")
    check_deadline(when, now)
    return when


def check_deadline(when: Any, now: datetime, max_days: float | None = None) -> None:
    """Raise unless ``when`` is an aware datetime after ``now``, at most ``max_days`` ahead, and in range
    once in UTC (9999-12-31T23:00:00-12:00 is year 10000 in UTC: PostgreSQL stores it, and then no
    Python reading the row could)."""
    if not isinstance(when, datetime):
        raise InvalidInput("budget.deadline", f"must be a datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.utcoffset() is None:
        raise InvalidInput("budget.deadline", "an ISO time needs a zone, e.g. 2026-01-01T12:00:00+00:00")
    try:
        when.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("budget.deadline", f"{when.isoformat()} is out of range") from None
    if when <= now:
        raise InvalidInput("budget.deadline", f"{when.isoformat()} is already past")
    if max_days is not None and when - now > timedelta(days=max_days):
        raise InvalidInput("budget.deadline", f"{when.isoformat()} is more than {_number(max_days)} days ahead "
                                                 f"(the configured ceiling)")
