"""Sends ready tasks to Celery by task name, only after the transaction that readied them commits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery import Celery, current_app
from django.db import transaction
from django.utils.module_loading import import_string

from .conf import settings

logger = logging.getLogger(__name__)

EXECUTE = "weft_django.execute"
SWEEP = "weft_django.sweep"


@dataclass(frozen=True)
class Ready:
    """A task to send: its id, the fencing token a claim must match, and where to send it."""

    task_id: int
    token: int
    queue: str
    priority: int
    countdown: float = 0.0


def celery_app() -> Celery:
    path = settings.CELERY_APP
    if path:
        return import_string(path.replace(":", ".")) if ":" in path else import_string(path)
    return current_app._get_current_object()  # type: ignore[attr-defined]


def send(items: Iterable[Ready]) -> int:
    """Publish now. A broker error is logged, not raised: the sweep re-sends undelivered tasks."""
    app = celery_app()
    sent = 0
    for r in items:
        try:
            app.send_task(EXECUTE, args=(r.task_id, r.token), queue=r.queue, priority=r.priority,
                          countdown=r.countdown or None)
            sent += 1
        except Exception:  # the row is committed; losing the message costs latency, never the task
            logger.exception("weft: could not publish task %s; the sweep will re-send it", r.task_id)
    return sent


def after_commit(items: list[Ready]) -> None:
    """Publish once the surrounding transaction commits (at once outside a transaction)."""
    if items:
        transaction.on_commit(lambda: send(items))
