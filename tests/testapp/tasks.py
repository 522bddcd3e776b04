"""Functions of Django's Tasks framework that the tests run on weft's backend (tests/workers/test_django_tasks.py),
and receivers that write the framework's signals, as each process sees them, to a file the tests read."""

from __future__ import annotations

import json
import os
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

from weft_django.backends import weft_options

if TYPE_CHECKING or find_spec("django.tasks") is not None:
    from django.tasks import TaskContext, task
    from django.tasks.signals import task_enqueued, task_finished, task_started
else:  # Django 5.2: the django-tasks backport
    from django_tasks import TaskContext, task
    from django_tasks.signals import task_enqueued, task_finished, task_started


class Refused(Exception):  # the test's own exception, found again by its dotted path
    pass


@task
def add(a: float, b: float) -> float:
    return a + b


@task
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@task
@weft_options(retry={"max_attempts": 2, "backoff": 0.05})
def refuse(reason: str) -> None:
    raise Refused(reason)


@task(takes_context=True)
@weft_options(retry={"max_attempts": 4, "backoff": 0.05})
def flaky(context: TaskContext, succeed_on: int) -> dict[str, Any]:
    if context.attempt < succeed_on:
        raise ConnectionError(f"attempt {context.attempt} failed on purpose")
    return {"attempt": context.attempt, "id": context.task_result.id}


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task(queue_name="weft-other", priority=100)
def urgent() -> str:
    return "done"


def signal_log() -> Path:
    """One file per test database: the workers and the tests of one run share it, other runs do not."""
    return Path(tempfile.gettempdir()) / f"weft-tasks-signals-{settings.DATABASES['default']['NAME']}.jsonl"


def _record(name: str) -> Any:
    def receiver(sender: Any, task_result: Any, **_: Any) -> None:
        line = {"signal": name, "id": task_result.id, "status": str(task_result.status), "pid": os.getpid(),
                "sender": f"{sender.__module__}.{sender.__qualname__}", "attempts": task_result.attempts}
        with signal_log().open("a") as f:
            f.write(json.dumps(line) + "\n")

    return receiver


for _signal, _name in ((task_enqueued, "task_enqueued"), (task_started, "task_started"),
                       (task_finished, "task_finished")):
    _signal.connect(_record(_name), dispatch_uid=f"tests.testapp.tasks.{_name}", weak=False)
