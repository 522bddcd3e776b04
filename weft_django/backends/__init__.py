"""weft as a backend of Django's Tasks framework (``django.tasks`` on Django 6, the ``django-tasks`` backport on
5.2): ``TASKS = {"default": {"BACKEND": "weft_django.backends.WeftBackend"}}``. docs/django-tasks.md."""

from __future__ import annotations

from typing import Any

from .options import weft_options

__all__ = ["WeftBackend", "weft_options"]


def __getattr__(name: str) -> Any:
    # The backend imports the framework, which Django 5.2 has only with the backport installed: loaded when
    # TASKS names it, not when the app starts (hook.py).
    if name == "WeftBackend":
        from .backend import WeftBackend

        return WeftBackend
    raise AttributeError(name)
