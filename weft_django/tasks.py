"""Celery tasks (worker side). They take primary keys and hand off to plain Python at once."""

from __future__ import annotations

from typing import Any

from celery import Task as CeleryTask
from celery import shared_task

from .dispatch import EXECUTE, SWEEP


@shared_task(name=EXECUTE, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute(self: CeleryTask, task_id: int, token: int) -> None:
    """Claim task ``task_id`` under fencing token ``token``, run it, record the outcome."""
    from .execution.runner import execute as run

    run(task_id, token, worker=self.request.hostname or "", celery_id=self.request.id or "")


@shared_task(name=SWEEP, ignore_result=True)
def sweep() -> dict[str, Any]:
    """Recover what was lost: expired leases, undelivered messages, due retries, past deadlines."""
    from .sweep import sweep as run_sweep

    return run_sweep()
