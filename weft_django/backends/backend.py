"""``WeftBackend``: a backend of Django's Tasks framework that makes each enqueued task a one-task weft job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import service
from ..exceptions import InvalidInput
from . import options, results, skills
from .compat import (
    DEFAULT_TASK_QUEUE_NAME,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    BaseTaskBackend,
    InvalidTask,
    InvalidTaskBackend,
    Task,
    TaskResult,
    normalize_json,
    task_enqueued,
)

WEFT_LAST_PRIORITY = 9  # weft's priorities run from 0 (first) to 9 (last)


class WeftBackend(BaseTaskBackend):
    """``TASKS = {"default": {"BACKEND": "weft_django.backends.WeftBackend", "QUEUES": [...], "OPTIONS": {...}}}``.

    OPTIONS: weft's ``retry``, ``timeout``, ``limits`` and ``budget`` for every task of this backend
    (``@weft_options`` on a function overrides them key by key). ``queue_name`` is the Celery queue, except
    the framework's ``"default"``, which is WEFT_DEFAULT_QUEUE; ``priority`` -100..100 (higher first) maps
    onto weft's 9..0 (0, the framework's default, is weft's 5).
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(params) - {"BACKEND", "QUEUES", "OPTIONS"})
        if unknown:
            raise InvalidTaskBackend(f"TASKS[{alias!r}]: unknown key {unknown[0]!r} (known: BACKEND, QUEUES, OPTIONS)")
        try:
            self.weft = options.parse(self.options, f"TASKS[{alias!r}]['OPTIONS']")
        except InvalidInput as exc:
            raise InvalidTaskBackend(str(exc)) from None

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        skills.register(task)  # its first use: the decoration, in every process that imports its module

    def enqueue(self, task: Task, args: Sequence[Any], kwargs: Mapping[str, Any]) -> TaskResult:
        self.validate_task(task)
        params = {"args": _json(list(args), "args"), "kwargs": _json(dict(kwargs), "kwargs")}
        spec = options.job_spec(skills.register(task), task.name, params, options.merged(self.weft, task.func),
                                queue=None if task.queue_name == DEFAULT_TASK_QUEUE_NAME else task.queue_name,
                                priority=weft_priority(task.priority))
        job = service.submit_job_at(spec, task.run_after)
        result = results.enqueued(task, job.pk, job.created_at, params)
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        return results.load(result_id)


def weft_priority(priority: int) -> int:
    """The framework's priority (higher first) as weft's (lower first), evenly over weft's ten steps."""
    span = TASK_MAX_PRIORITY - TASK_MIN_PRIORITY
    return WEFT_LAST_PRIORITY - round((priority - TASK_MIN_PRIORITY) * WEFT_LAST_PRIORITY / span)


def _json(value: Any, name: str) -> Any:
    """The framework's own JSON normalisation (tuples become lists); what it cannot hold is refused by name."""
    try:
        return normalize_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTask(f"{name}: must be JSON-serializable ({exc})") from None
