"""The demo's functions for Django's Tasks framework: they run on whichever backend TASKS names (weft by
default; settings.py switches to the framework's database backend with one setting).

Not ``tasks.py``: Celery's autodiscovery imports every app's ``tasks`` module in the worker, and this one
needs the framework, which Django 5.2 has only with the backport (the ``tasks`` extra)."""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from weft_django.backends import weft_options

if TYPE_CHECKING or find_spec("django.tasks") is not None:
    from django.tasks import TaskContext, task
else:  # Django 5.2: the django-tasks backport
    from django_tasks import TaskContext, task


@task
def word_count(text: str) -> dict[str, int]:
    """Words and characters of a text."""
    return {"words": len(text.split()), "characters": len(text)}


@task(takes_context=True, queue_name="reports", priority=10)
@weft_options(retry={"max_attempts": 3, "backoff": 0.5}, timeout=60)  # weft only; other backends ignore it
def monthly_report(context: TaskContext, month: str, amounts: list[float]) -> dict[str, Any]:
    """A report that knows which attempt it is (the framework's context)."""
    return {"month": month, "total": sum(amounts), "attempt": context.attempt}
