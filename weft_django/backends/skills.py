"""A framework task as a weft skill: registered under its ``module_path`` when the backend first sees it (its
decoration, in every process that imports its module), found by a worker that has not imported it yet, and run
with the framework's context and ``task_started`` signal. ``task_finished`` follows weft's own, once final."""

from __future__ import annotations

import inspect
import logging
from importlib import import_module
from typing import Any

from django.apps import apps

from .. import registry, reports
from ..registry import SkillDef
from . import results
from .compat import Task, TaskContext, TaskResultDoesNotExist, task_finished, task_started

logger = logging.getLogger(__name__)

PARAMS = {"type": "object", "additionalProperties": False, "required": ["args", "kwargs"],
          "properties": {"args": {"type": "array"}, "kwargs": {"type": "object"}}}
NAMES: set[str] = set()  # the framework tasks registered as skills in this process


def register(task: Task) -> str:
    """Register the task's function as a skill (once per process); its name."""
    name = str(task.module_path)
    if name in NAMES:
        return name

    def run(ctx: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return execute(name, ctx, args, kwargs)

    # The skill's target (what the admin shows, and what a second registration must match) is the function's.
    run.__module__, run.__qualname__, run.__name__ = task.func.__module__, task.func.__qualname__, task.func.__name__
    registry.register(SkillDef(name=name, kind="python", func=run, params_schema=PARAMS, wants_context=True,
                               description=inspect.getdoc(task.func) or ""))
    NAMES.add(name)
    return name


def execute(name: str, ctx: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run the task function in the worker: the framework's task_started first, its context if it takes one."""
    task = results.framework_task(name)
    result = results.load(ctx.job_id)  # RUNNING, one worker id per attempt so far, this one included
    task_started.send(type(task.get_backend()), task_result=result)
    if task.takes_context:
        return task.call(TaskContext(task_result=result), *args, **kwargs)
    return task.call(*args, **kwargs)


def find(name: str) -> None:
    """The registry's finder: import the module a framework task's name points into, if it is an installed
    app's (its decoration registers it); any other name is left alone, so a name never imports arbitrary code."""
    module = name.rpartition(".")[0]
    if not module or not any(module == a.name or module.startswith(f"{a.name}.") for a in apps.get_app_configs()):
        return
    try:
        import_module(module)
    except ImportError:
        return


def relay_finished(sender: Any, *, job_id: int, task_id: int, **_: Any) -> None:
    """weft's task_finished (sent after the final state committed) as the framework's, for its tasks."""
    found = reports.lone_skill(task_id)
    if found is None:
        return
    if found[1] not in NAMES:
        find(found[1])
        if found[1] not in NAMES:
            return
    try:
        result = results.load(job_id)
    except TaskResultDoesNotExist:  # pruned meanwhile, or its module no longer defines the task
        return
    # After weft's own commit: a receiver that raises is logged, and cannot undo or disturb what was recorded.
    for receiver, error in task_finished.send_robust(type(result.task.get_backend()), task_result=result):
        if isinstance(error, Exception):
            logger.error("task_finished receiver %r failed for task result %s", receiver, result.id, exc_info=error)
