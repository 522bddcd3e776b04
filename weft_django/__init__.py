"""weft_django: durable, explainable task orchestration for Django on Celery."""

from __future__ import annotations

from typing import Any

from .exceptions import (
    InvalidInput,
    InvalidTransition,
    JobFailed,
    NotAllowed,
    NotFound,
    NotSerializable,
    PermissionDenied,
    ResultTimeout,
    TaskFailed,
    UnknownId,
    UnknownSkill,
    ValidationError,
    WeftError,
)
from .outcomes import NonRetryable, Outcome
from .registry import command_skill, skill

__all__ = [
    "InvalidInput",
    "InvalidTransition",
    "JobFailed",
    "NonRetryable",
    "NotAllowed",
    "NotFound",
    "NotSerializable",
    "Outcome",
    "PermissionDenied",
    "ResultTimeout",
    "TaskFailed",
    "UnknownId",
    "UnknownSkill",
    "ValidationError",
    "WeftError",
    "approve",
    "cancel",
    "cancel_task",
    "command_skill",
    "explain",
    "loop",
    "reject",
    "rerun",
    "result",
    "results",
    "skill",
    "status",
    "submit",
    "submit_job",
    "submit_many",
    "wait",
]

_SERVICE = {"submit", "submit_job", "submit_many", "status", "result", "results", "explain", "cancel", "cancel_task",
            "wait", "approve", "reject", "rerun"}


def __getattr__(name: str) -> Any:
    # The service layer and loops import models, which cannot load before the app registry is ready.
    if name in _SERVICE:
        from . import service

        return getattr(service, name)
    if name == "loop":
        from .loops import loop

        return loop
    raise AttributeError(name)
