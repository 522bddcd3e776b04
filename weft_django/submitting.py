"""Submission: ``submit``, ``submit_many``, ``submit_job``, and their doors for a user (the HTTP API's and
the admin's), which check the user's permission to run each skill first. Part of ``weft_django.service``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from . import access
from .capabilities import parse as parse_capabilities
from .conf import settings
from .exceptions import InvalidInput
from .jobspec import JobSpec
from .lifecycle import bulk, policing
from .lifecycle import submit as submission
from .models import Job
from .spec import Limits, TaskSpec

_R = TypeVar("_R")


def submit(
    skill: str,
    params: Mapping[str, Any] | None = None,
    *,
    key: str | None = None,
    limits: Mapping[str, Any] | None = None,
    retry: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    queue: str | None = None,
    priority: int | None = None,
    locks: Sequence[str] | None = None,
    capabilities: Sequence[str] | None = None,
    version: str | None = None,
    name: str = "",
    owner: Any = None,
    idempotency_key: str | None = None,
    labels: Mapping[str, Any] | None = None,
    deadline: datetime | None = None,
) -> Job:
    """Submit one task as a job. Validates everything, writes in one transaction, dispatches on commit.
    ``version`` (or ``skill="name@2"``) pins the skill's version; without it the newest enabled one runs."""
    # Not a str either: tuple("db:x") would lock four one-letter names; and tuple(5) would raise a TypeError.
    if locks is not None and not isinstance(locks, list | tuple):
        raise InvalidInput("locks", f"must be a list of lock names, got {type(locks).__name__}")
    spec = TaskSpec(skill=skill, params=params if params is not None else {}, key=key,
                    limits=Limits.parse(limits), retry=retry, timeout=timeout, queue=queue, priority=priority,
                    locks=tuple(locks or ()), capabilities=parse_capabilities(capabilities, "capabilities"),
                    version=version)
    spec.validate()
    return submission.create_job([spec], submission.JobOptions(
        name=name or skill, owner=owner, idempotency_key=idempotency_key, labels=labels, deadline=deadline),
        name_tasks=False)


def submit_many(items: Sequence[Mapping[str, Any]], *, owner: Any = None) -> list[Job]:
    """Submit many one-task jobs at once; returns them in the items' order.

    Each item is a dict of ``submit()``'s arguments: ``skill``, ``params``, ``key``, the task options
    (limits, retry, timeout, queue, priority, locks) and its job's ``name``, ``labels``,
    ``idempotency_key``, ``deadline``. All are validated and policed first, an error naming the item
    (``[3].params.n``); then all are written in one transaction (on PostgreSQL one statement), or none.
    Their messages are published together once it commits (the jobs share one ``delivery``).
    """
    return bulk.submit_many(items, owner)


def submit_job(spec: JobSpec | Mapping[str, Any], *, owner: Any = None) -> Job:
    """Submit a DAG of tasks with a budget. The whole graph is validated first; nothing is written on error."""
    return submission.submit_job(spec if isinstance(spec, JobSpec) else JobSpec.parse(spec), owner=owner)


def submit_by(user: Any, fields: Mapping[str, Any]) -> Job:
    """``submit(**fields)`` for ``user``, who owns the new job: checked first (``weft.run_skill`` and the
    skill's own permission; NotAllowed names ``skill``)."""
    with policing.recording(user, [fields["skill"]]):  # a refusal by permission is a built-in policy's
        access.check_may_run(user, [("skill", fields["skill"])])
    return submit(**fields, owner=user)


def submit_many_by(user: Any, items: Sequence[Any]) -> list[Job]:
    """``submit_many(items)`` for ``user``, who owns the new jobs: checked first for each item's skill
    (NotAllowed names ``[i].skill``); a malformed item is left to submit_many's validation. At most
    WEFT_SUBMIT_MANY_MAX items."""
    if isinstance(items, list) and len(items) > settings.SUBMIT_MANY_MAX:
        raise InvalidInput("", f"at most {settings.SUBMIT_MANY_MAX} submissions at once (WEFT_SUBMIT_MANY_MAX), "
                               f"got {len(items)}")
    return _checked(user, items, "", lambda: submit_many(items, owner=user))


def submit_job_by(user: Any, spec: Mapping[str, Any]) -> Job:
    """``submit_job(spec)`` for ``user``, who owns the new job: checked first for every task's skill
    (NotAllowed names ``tasks[i].skill``); a malformed task is left to the spec's validation."""
    return _checked(user, spec.get("tasks"), "tasks", lambda: submit_job(spec, owner=user))


def _checked(user: Any, tasks: Any, where: str, then: Callable[[], _R]) -> _R:
    """``then()`` once ``user`` may run the skill of every task (``where[i].skill``) of the list ``tasks``."""
    skills = [t.get("skill") if isinstance(t, dict) else None for t in (tasks if isinstance(tasks, list) else [])]
    names = [(f"{where}[{i}].skill", name) for i, name in enumerate(skills) if isinstance(name, str)]
    with policing.recording(user, [name if isinstance(name, str) else "" for name in skills]):
        access.check_may_run(user, names)
    return then()
