"""Wiring at start-up (``WeftConfig.ready``), without importing the framework: when a TASKS backend is weft's,
let the registry find framework tasks by name and relay weft's task_finished to the framework's."""

from __future__ import annotations

from importlib.util import find_spec

from django.conf import settings

BACKEND = "weft_django.backends.WeftBackend"


def configured() -> bool:
    """Whether any backend in settings.TASKS is weft's."""
    tasks = getattr(settings, "TASKS", None) or {}
    return any(isinstance(c, dict) and c.get("BACKEND") == BACKEND for c in tasks.values())


def install() -> None:
    # Without the framework (Django 5.2 without the backport) there is no framework task to find or relay.
    if not configured() or (find_spec("django.tasks") is None and find_spec("django_tasks") is None):
        return
    from .. import finders, signals
    from . import skills

    finders.add_finder(skills.find)
    signals.task_finished.connect(skills.relay_finished, dispatch_uid="weft.backends.relay_finished")
