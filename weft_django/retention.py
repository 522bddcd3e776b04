"""Retention: delete finished jobs older than WEFT_RETENTION says, with everything they own, in small batches.

Each batch is one short transaction over a few whole jobs (at most about WEFT_PRUNE_BATCH task rows; a
larger job alone), deleting child rows first by indexed job or task ids, so no lock is held for long and
the live work of other jobs never waits on it. Jobs another prune holds are skipped (SKIP LOCKED), so two
prunes split the work. Run by ``manage.py weft_prune`` and, one batch at a time, by the sweep.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from .conf import settings
from .exceptions import InvalidInput
from .models import Artifact, Attempt, Decision, Dependency, Iteration, Job, LlmCall, Task
from .states import FINAL_JOB_STATES

# Children first (each has a job_id column): nothing is left pointing at a deleted row, even for a moment.
BY_JOB = (Decision, Artifact, Iteration, LlmCall, Attempt)


def check_retention(raw: Any, path: str = "WEFT_RETENTION") -> dict[str, float]:
    """WEFT_RETENTION as {final status: days}, or InvalidInput naming the entry."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidInput(path, f"must be a dict of final status -> days, got {type(raw).__name__}")
    out = {}
    for status, days in raw.items():
        if status not in FINAL_JOB_STATES:
            raise InvalidInput(f"{path}.{status}", f"is not a final job status ({', '.join(sorted(FINAL_JOB_STATES))})")
        if isinstance(days, bool) or not isinstance(days, int | float) or not 0 <= days <= 100_000:
            raise InvalidInput(f"{path}.{status}", f"must be a number of days from 0 to 100000, got {days!r}")
        out[str(status)] = float(days)
    return out


def expired(now: Any = None) -> Q | None:
    """Which jobs are past their retention, or None when nothing is to be pruned."""
    now = now or timezone.now()
    rules = check_retention(settings.RETENTION)
    q = None
    for status, days in rules.items():
        rule = Q(status=status, finished_at__lt=now - timedelta(days=days))
        q = rule if q is None else q | rule
    return q


def prune(*, max_batches: int | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete expired jobs batch by batch; how many rows of each kind went (or would go, with ``dry_run``)."""
    counts: Counter[str] = Counter()
    q = expired()
    if q is None:
        return {}
    if dry_run:
        jobs = Job.objects.filter(q)
        return {"jobs": jobs.count(), "tasks": int(jobs.aggregate(n=Sum("tasks_total"))["n"] or 0)}
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            ids = _batch(q)
            if not ids:
                break
            _delete(ids, counts)
        batches += 1
    return dict(counts)


def _batch(q: Q) -> list[int]:
    """A few whole expired jobs, locked, oldest first, adding up to about WEFT_PRUNE_BATCH tasks."""
    rows = list(Job.objects.filter(q).order_by("finished_at").select_for_update(skip_locked=True)
                .values_list("pk", "tasks_total")[:200])
    ids: list[int] = []
    tasks = 0
    for pk, total in rows:
        if ids and tasks + total > settings.PRUNE_BATCH:
            break
        ids.append(pk)
        tasks += total
    return ids


def _delete(job_ids: list[int], counts: Counter[str]) -> None:
    """Plain DELETEs by indexed ids: Django's delete() would load every row to cascade by hand (the foreign
    keys of these append-only tables have no database constraint), which is what a prune must not do."""
    marks = ", ".join(["%s"] * len(job_ids))
    task, dep, job = Task._meta.db_table, Dependency._meta.db_table, Job._meta.db_table
    statements = [(m._meta.model_name or "", f"DELETE FROM {m._meta.db_table} WHERE job_id IN ({marks})")
                  for m in BY_JOB]
    statements += [("dependency", f"DELETE FROM {dep} WHERE downstream_id IN (SELECT id FROM {task} "
                                  f"WHERE job_id IN ({marks}))"),
                   ("task", f"DELETE FROM {task} WHERE job_id IN ({marks})"),
                   ("job", f"DELETE FROM {job} WHERE id IN ({marks})")]
    with connection.cursor() as cursor:
        for name, sql in statements:
            cursor.execute(sql, job_ids)
            counts[name] += cursor.rowcount
