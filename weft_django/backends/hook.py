"""Wiring at start-up (``WeftConfig.ready``), without importing the framework: when a TASKS backend is weft's,
let the registry find framework tasks by name and relay weft's task_finished to the framework's."""

from __future__ import annotations

from django.conf import settings

BACKEND = "weft_django.backends.WeftBackend"


def configured() -> bool:
    """Whether any backend in settings.TASKS is weft's."""
    tasks = getattr(settings, "TASKS", None) or {}
    return any(isinstance(c, dict) and c.get("BACKEND") == BACKEND for c in tasks.values())


def install() -> None:
    if not configured():
        return
    from .. import registry, signals
    from . import skills

    registry.add_finder(skills.find)
    signals.task_finished.connect(skills.relay_finished, dispatch_uid="weft.backends.relay_finished")
