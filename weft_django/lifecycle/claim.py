"""Claim: a worker takes a queued task under a new lease and opens its attempt.

The message carries the task's fencing token (its ``attempts`` count when it was sent); the claim is a
compare-and-set on it (``transitions.claim``), so a duplicate or stale message claims nothing, and the
claimed task's token goes up by one. ``claim_fast`` is the same claim as one PostgreSQL statement for a
job without an attempt budget or deadline and a task without limits or locks (``governed``); the ORM
version handles every other case, and admits a governed task first (admission.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from .. import options, signals, transitions
from ..conf import settings
from ..models import Attempt, Dependency, Task
from ..states import JobStatus
from . import admission, budget, graph, pg, policing, policy_gate

HOST = socket.gethostname()


@dataclass(frozen=True)
class Claimed:
    """A task this worker holds under lease ``token``, with everything needed to run it."""

    task_id: int
    job_id: int
    token: int
    attempt_id: int
    key: str
    skill_name: str
    skill_version: str  # the version it was submitted with: the one that runs, whatever registered since
    params: dict[str, Any]
    limits: dict[str, Any]
    retry: dict[str, Any]
    timeout: float | None
    queue: str
    priority: int
    job_max_attempts: int | None
    job_max_cost: float | None
    job_deadline: datetime | None
    has_dependents: bool
    parent_id: int | None = None
    dependencies: dict[str, Any] | None = None
    locks: list[str] | None = None
    capabilities: list[str] | None = None
    gates: dict[str, Any] | None = None
    governed: bool = False  # it holds limits or locks: its end hands them on (admission.handoff)
    job_max_tokens: int | None = None


# What a claim reads of the task: what to run (its options from the one declaration, options.py) and where
# it sits in its job. The ORM version reads them with the job's budget; the statement below returns them.
TASK_FIELDS = ("job_id", "key", "skill_name", "skill_version", "params", *options.COLUMNS, "has_dependents",
               "has_dependencies", "parent_id", "gates", "governed")
CLAIM_FIELDS = (*TASK_FIELDS, "job__status", "job__max_attempts", "job__max_cost", "job__deadline", "job__owner_id",
                "job__labels", "job__max_tokens")
JSON_FIELDS = ("params", "gates", *(c for c in options.COLUMNS if options.SQL_TYPES[c] == "jsonb"))


def claim(task_id: int, token: int, *, worker: str = HOST, celery_id: str = "", pid: int | None = None
          ) -> Claimed | None:
    """Take a queued task under a new lease and open its attempt; None for a duplicate or stale message.
    ``pid``: the process that runs it, when not this one (an agent's, lifecycle/external.py)."""
    pid = os.getpid() if pid is None else pid
    policed = policing.claim_rules_exist()  # a rule with a time window: every claim asks it (policy_gate.py)
    if pg.enabled() and not policed:
        fast = claim_fast(task_id, token, worker=worker, pid=pid, celery_id=celery_id)
        if fast is not None:
            return _claimed_fast(task_id, token, fast)
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values(*CLAIM_FIELDS).first()  # the spec is immutable
        if row is None or row["job__status"] != JobStatus.RUNNING:
            return None
        stop = budget.refusal(row["job_id"], row["key"], max_attempts=row["job__max_attempts"],
                              deadline=row["job__deadline"], max_tokens=row["job__max_tokens"])
        if stop is not None:
            graph.stop_job(row["job_id"], stop)
            return None
        # A task with limits or locks is admitted first (all of them or none, under their locks): without a free
        # slot, a rate token or a lock it stays queued and its message is spent; a slot freed sends it again.
        if row["governed"] and not admission.admit(task_id, token, row):
            return None
        if policed and policy_gate.held(task_id, token, row, timezone.now()):
            return None
        if not transitions.claim(task_id, token, lease=settings.LEASE_SECONDS, worker=worker):
            return None
        attempt = Attempt.objects.create(task_id=task_id, job_id=row["job_id"], number=token + 1, worker=worker,
                                         pid=pid, celery_id=celery_id, started_at=Now())
        deps = None
        if row["has_dependencies"]:
            deps = dict(Dependency.objects.filter(downstream_id=task_id)
                        .values_list("upstream__key", "upstream__result"))
        signals.send_on_commit(signals.task_started, job_id=row["job_id"], task_id=task_id, attempt=token + 1)
    return _claimed(task_id, token, attempt.pk, row, deps)


def _claimed_fast(task_id: int, token: int, row: dict[str, Any]) -> Claimed:
    deps = None
    if row["has_dependencies"]:
        deps = dict(Dependency.objects.filter(downstream_id=task_id).values_list("upstream__key", "upstream__result"))
    signals.send_on_commit(signals.task_started, job_id=row["job_id"], task_id=task_id, attempt=token + 1)
    return _claimed(task_id, token, row["attempt_id"], row, deps)


def _claimed(task_id: int, token: int, attempt_id: int, row: Mapping[str, Any],
             deps: dict[str, Any] | None) -> Claimed:
    """The Claimed of a row read by either version (the fast one claims only jobs without an attempt or token
    budget or a deadline, and returns none of them)."""
    return Claimed(task_id=task_id, token=token + 1, attempt_id=attempt_id,
                   **{f: row[f] for f in TASK_FIELDS if f != "has_dependencies"},
                   job_max_attempts=row.get("job__max_attempts"), job_max_cost=row["job__max_cost"],
                   job_deadline=row.get("job__deadline"), dependencies=deps, job_max_tokens=row.get("job__max_tokens"))


CLAIM = f"""
WITH j AS (
    -- The job by primary key on its own, not joined: a prepared statement's generic plan is built once
    -- per connection, and built while weft_job was small the join scanned every job, for every claim.
    -- Below, IS TRUE keeps job_id out of the task's index conditions (weft_task_job_key_uniq would
    -- otherwise look tempting on a small table, and reads every task of a big job).
    SELECT id, max_cost FROM weft_job
    WHERE id = (SELECT job_id FROM weft_task WHERE id = %(task)s)
      AND (status = 'running') IS TRUE AND max_attempts IS NULL AND deadline IS NULL AND max_tokens IS NULL
), t AS (
    UPDATE weft_task AS t
    SET status = 'running', attempts = t.attempts + 1, started_at = now(), worker = %(worker)s, not_before = NULL,
        lease_expires_at = now() + make_interval(secs => %(lease)s)
    WHERE t.id = %(task)s AND (t.status = 'queued') IS TRUE AND t.attempts = %(token)s
      AND (t.job_id = (SELECT id FROM j)) IS TRUE AND NOT t.governed  -- limits and locks: admission.py
    RETURNING {", ".join(f"t.{f}" for f in TASK_FIELDS)}, (SELECT max_cost FROM j)
), a AS (
    INSERT INTO weft_attempt (task_id, job_id, number, outcome, worker, pid, celery_id, started_at, error_type,
                              error_message, traceback, stdout, stderr, limit_hit, cost)
    SELECT %(task)s, job_id, %(token)s + 1, 'running', %(worker)s, %(pid)s, %(celery_id)s, now(),
           '', '', '', '', '', '', 0
    FROM t
    RETURNING id
)
SELECT t.*, a.id FROM t, a
"""

CLAIM_KEYS = (*TASK_FIELDS, "job__max_cost", "attempt_id")


def claim_fast(task_id: int, token: int, *, worker: str, pid: int, celery_id: str) -> dict[str, Any] | None:
    """queued -> running and the attempt opened, for a job without an attempt budget or deadline."""
    row = pg.fetchone(CLAIM, {"task": task_id, "token": token, "worker": worker, "pid": pid,
                            "celery_id": celery_id, "lease": float(settings.LEASE_SECONDS)})
    if row is None:
        return None
    out = dict(zip(CLAIM_KEYS, row, strict=True))
    for k in JSON_FIELDS:
        out[k] = pg.loads(out[k])
    return out
