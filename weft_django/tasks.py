"""Celery tasks (worker side). They take primary keys and hand off to plain Python at once."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Task as CeleryTask
from celery import shared_task
from celery.signals import worker_init, worker_ready, worker_shutdown

from .dispatch import EXECUTE, EXECUTE_MANY, FANOUT, SCHEDULED, SWEEP, harden_redis_transport


@shared_task(name=EXECUTE, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute(self: CeleryTask, task_id: int, token: int) -> dict[str, Any]:
    """Claim task ``task_id`` under fencing token ``token``, run it, record the outcome.

    Returns what became of it ({"task", "skill", "attempt", "outcome"[, "error_type"]}): the Celery task
    itself succeeds whenever the outcome was recorded, so this is what the worker's log line shows.
    """
    from .execution.runner import execute as run

    return run(task_id, token, worker=self.request.hostname or "", celery_id=self.request.id or "")


@shared_task(name=EXECUTE_MANY, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_many(self: CeleryTask, chunk: list[list[int]]) -> dict[str, Any]:
    """Claim, run and record a chunk of tasks ([[task id, token], ...]) one after another (execution/chunk.py).

    Acknowledged once the whole chunk is done: a worker lost midway has its message delivered again, and
    each task of it is then claimed, or recovered if its attempt died with the worker, as a lone message's.
    """
    from .execution.chunk import execute_many as run

    return run([(int(t), int(k)) for t, k in chunk], worker=self.request.hostname or "",
               celery_id=self.request.id or "")


@shared_task(name=SWEEP, ignore_result=True)
def sweep() -> dict[str, Any]:
    """Recover what was lost: expired leases, undelivered messages, due retries, past deadlines."""
    from .sweep import sweep as run_sweep

    return run_sweep()


@shared_task(name=FANOUT, ignore_result=True)
def fanout(chunk: list[list[Any]]) -> int:
    """Publish one chunk of a large dispatch (see dispatch.send_or_fan_out)."""
    from .dispatch import send
    from .handoff import Ready

    now = time.time()
    # [id, token, queue, priority, countdown, due at (epoch s, 0: now)]; a chunk of an older weft has no due.
    return send([Ready(int(t), int(k), str(q), int(p), max(0.0, float(at[0]) - now) if at and at[0] else float(c or 0))
                 for t, k, q, p, c, *at in chunk])


@shared_task(name=SCHEDULED, ignore_result=True)
def scheduled(schedule_id: int) -> int | None:
    """One run of a weft Schedule (beat sends it): the submitted job's id, or None if skipped."""
    from .schedules import fire

    return fire(schedule_id)


@worker_init.connect(dispatch_uid="weft_worker_init")
def _worker_init(sender: Any = None, **kwargs: Any) -> None:
    harden_redis_transport()  # a Redis restart must not stop the worker (see its docstring)


# ---- Worker rows (weft_django.workers): online at start, a heartbeat thread, offline at shutdown. ----
_heartbeats: dict[str, Any] = {}


@worker_ready.connect(dispatch_uid="weft_worker_ready")
def _worker_ready(sender: Any = None, **kwargs: Any) -> None:
    from .lifecycle.recover import recover_orphans_of
    from .workers import Heartbeat

    hostname = str(getattr(sender, "hostname", "") or "")
    if not hostname or hostname in _heartbeats:
        return
    queues = list(sender.app.amqp.queues.consume_from or ())
    _heartbeats[hostname] = beat = Heartbeat(hostname, os.getpid(), queues, recover_orphans_of)
    beat.start()


@worker_shutdown.connect(dispatch_uid="weft_worker_shutdown")
def _worker_shutdown(sender: Any = None, **kwargs: Any) -> None:
    beat = _heartbeats.pop(str(getattr(sender, "hostname", "") or ""), None)
    if beat is not None:
        beat.stop()
