"""weft's options of a framework task, beyond what Django's Tasks framework defines: ``retry``, ``timeout``,
``limits`` (as a skill's) and ``budget`` (as a job's), in the backend's OPTIONS or ``@weft_options`` on one
function. Each is checked where it is given, naming it; an unknown one is refused, never ignored."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..exceptions import InvalidInput
from ..jobspec import JobSpec

TASK_KEYS = ("retry", "timeout", "limits")
KEYS = (*TASK_KEYS, "budget")
ATTR = "weft_options"  # the attribute @weft_options sets on the function

F = TypeVar("F", bound=Callable[..., Any])


def parse(values: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """``values`` checked: known keys only, each value valid (InvalidInput names ``where.key``)."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(where, f"must be a mapping, got {type(values).__name__}")
    unknown = sorted(str(k) for k in values if k not in KEYS)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}", f"unknown weft option; known: {', '.join(KEYS)}")
    try:
        JobSpec.parse(job_spec("check", "check", {}, dict(values), queue=None, priority=None))
    except InvalidInput as exc:
        raise InvalidInput(f"{where}.{exc.field.removeprefix('tasks[0].')}", exc.message) from None
    return dict(values)


def merged(backend: Mapping[str, Any], func: Callable[..., Any]) -> dict[str, Any]:
    """The backend's OPTIONS, then the function's own ``@weft_options`` over them, key by key."""
    return {**backend, **getattr(func, ATTR, {})}


def job_spec(name: str, key: str, params: Mapping[str, Any], values: Mapping[str, Any], *, queue: str | None,
             priority: int | None) -> dict[str, Any]:
    """The one-task job a framework task becomes (``service.submit_job_at``)."""
    task = {"key": key, "skill": name, "params": dict(params), **{k: values[k] for k in TASK_KEYS if k in values}}
    if queue is not None:
        task["queue"] = queue
    if priority is not None:
        task["priority"] = priority
    return {"name": name, "tasks": [task], "budget": dict(values.get("budget") or {})}


def weft_options(**values: Any) -> Callable[[F], F]:
    """weft's options of one task function, under the framework's decorator::

        @task(priority=10)
        @weft_options(retry={"max_attempts": 5, "backoff": 2.0}, timeout=60, budget={"deadline": 3600})
        def send_report(user_id: int) -> None: ...
    """
    parsed = parse(values, "weft_options")

    def decorate(func: F) -> F:
        setattr(func, ATTR, parsed)
        return func

    return decorate
