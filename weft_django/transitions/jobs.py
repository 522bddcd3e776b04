"""A job's status changes: counted down as its tasks end, ended, reopened; its spent cost."""

from __future__ import annotations

from django.db import connection
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from ..models import Job
from ..states import JobStatus


def count_finished(job_id: int, *, finished: int, failed: int) -> tuple[str | None, int]:
    """Tasks of a job became final: count them off and, if they were the last open ones, finish the job.

    One UPDATE ... RETURNING (PostgreSQL and SQLite alike); SET expressions see the row as it was, and the
    row lock orders concurrent finishers, so exactly one of them sees the count reach zero. Returns the
    job's new status when this call finished it (else None), and how many tasks the job has.
    """
    done = "status = %s AND tasks_open = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Job._meta.db_table} SET tasks_open = tasks_open - %s, tasks_failed = tasks_failed + %s, "
            f"status = CASE WHEN {done} THEN (CASE WHEN tasks_failed + %s = 0 THEN %s ELSE %s END) ELSE status END, "
            f"finished_at = CASE WHEN {done} THEN %s ELSE finished_at END "
            "WHERE id = %s RETURNING status, tasks_open, tasks_total",
            [finished, failed, JobStatus.RUNNING, finished, failed, JobStatus.SUCCEEDED, JobStatus.FAILED,
             JobStatus.RUNNING, finished, connection.ops.adapt_datetimefield_value(timezone.now()), job_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None, 0
    ended = row[1] == 0 and row[0] in (JobStatus.SUCCEEDED, JobStatus.FAILED)
    return (str(row[0]) if ended else None), int(row[2])

def end_job(job_id: int, status: JobStatus, reason: str) -> bool:
    """running -> cancelled/stopped; False if the job had already ended."""
    return bool(Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=status, stop_reason=reason, finished_at=Now()))

def add_cost(job_id: int, cost: float) -> None:
    if cost:
        Job.objects.filter(pk=job_id).update(cost=F("cost") + cost)

def reopen_job(job_id: int, count: int) -> str:
    """``count`` of the job's tasks, counted failed when they ended, are open again: the job runs again if it
    had ended (it had not succeeded: it had failed tasks). Returns the status it had."""
    before = Job.objects.filter(pk=job_id).values_list("status", flat=True).get()
    Job.objects.filter(pk=job_id).exclude(status=JobStatus.SUCCEEDED).update(
        status=JobStatus.RUNNING, stop_reason="", finished_at=None, tasks_open=F("tasks_open") + count,
        tasks_failed=F("tasks_failed") - count)
    return str(before)
