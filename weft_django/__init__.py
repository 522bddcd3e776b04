"""weft_django: durable, explainable task orchestration for Django on Celery."""

from __future__ import annotations

from typing import Any

from .exceptions import (
    InvalidTransition,
    NotFound,
    NotSerializable,
    PermissionDenied,
    ResultTimeout,
    UnknownSkill,
    ValidationError,
    WeftError,
)
from .outcomes import NonRetryable, Outcome
from .registry import command_skill, skill

__all__ = [
    "InvalidTransition",
    "NonRetryable",
    "NotFound",
    "NotSerializable",
    "Outcome",
    "PermissionDenied",
    "ResultTimeout",
    "TaskFailed",
    "UnknownSkill",
    "ValidationError",
    "WeftError",
    "approve",
    "cancel",
    "cancel_task",
    "command_skill",
    "explain",
    "reject",
    "rerun",
    "result",
    "results",
    "skill",
    "status",
    "submit",
    "submit_job",
    "wait",
]

_SERVICE = {"submit", "submit_job", "status", "result", "results", "explain", "cancel", "cancel_task", "wait",
            "approve", "reject", "rerun", "TaskFailed"}


def __getattr__(name: str) -> Any:
    # The service layer imports models, which cannot load before the app registry is ready.
    if name in _SERVICE:
        from . import service

        return getattr(service, name)
    raise AttributeError(name)
