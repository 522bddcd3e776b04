"""Schedules: a job spec submitted periodically (every N seconds, or on a cron line) by django-celery-beat's
scheduler, which sends the Celery task ``weft_django.scheduled`` with the schedule's id. With ``overlap="skip"``
a run is skipped (and counted) while the previous run's job is still going. Each job is labelled
``schedule: <name>``, so its runs are one filter away in the job list."""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from .exceptions import InvalidInput, UnknownId
from .jobspec import JobSpec
from .lifecycle import submit as submission
from .models import Job, Schedule
from .states import FINAL_JOB_STATES

CRON_FIELD = re.compile(r"^[\d*/,\-]+\Z")
PERIODIC_PREFIX = "weft-schedule-"


def check(fields: dict[str, Any]) -> None:
    """Refuse a schedule that could never run, naming the field."""
    JobSpec.parse(fields.get("spec"))  # InvalidInput names tasks[i]... as for a submission
    every, cron = fields.get("every_seconds"), (fields.get("cron") or "").strip()
    if (every is None) == (not cron):
        raise InvalidInput("every_seconds", "give either every_seconds or cron, not both and not neither")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise InvalidInput("every_seconds", f"must be a whole number of seconds of at least 1, got {every!r}")
    if cron:
        parts = cron.split()
        if len(parts) != 5 or not all(CRON_FIELD.match(p) for p in parts):
            raise InvalidInput("cron", 'must be five fields "minute hour day-of-month month day-of-week", '
                                       f"got {cron!r}")


def install(schedule: Schedule) -> None:
    """Create, update or remove the PeriodicTask that fires ``schedule`` (django-celery-beat)."""
    from django.apps import apps

    if not apps.is_installed("django_celery_beat"):
        raise InvalidInput("schedule", "django_celery_beat is not in INSTALLED_APPS: nothing would fire it")
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    from .dispatch import SCHEDULED

    name = f"{PERIODIC_PREFIX}{schedule.pk}"
    with transaction.atomic():
        if schedule.every_seconds:
            interval, _ = IntervalSchedule.objects.get_or_create(every=schedule.every_seconds,
                                                                 period=IntervalSchedule.SECONDS)
            when: dict[str, Any] = {"interval": interval, "crontab": None}
        else:
            minute, hour, dom, month, dow = schedule.cron.split()
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
                timezone=timezone.get_current_timezone_name())
            when = {"interval": None, "crontab": crontab}
        PeriodicTask.objects.update_or_create(name=name, defaults={
            **when, "task": SCHEDULED, "args": f"[{schedule.pk}]", "enabled": schedule.enabled,
            "description": f"weft schedule {schedule.name!r} (edit it as a weft Schedule, not here)"})


def uninstall(schedule_id: int) -> None:
    from django.apps import apps

    if apps.is_installed("django_celery_beat"):
        from django_celery_beat.models import PeriodicTask

        PeriodicTask.objects.filter(name=f"{PERIODIC_PREFIX}{schedule_id}").delete()


def fire(schedule_id: int) -> int | None:
    """One run of the schedule: its job's id, or None when it was skipped (overlap) or is disabled."""
    with transaction.atomic():
        s = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if s is None:
            raise UnknownId(f"no schedule with id {schedule_id}")
        if not s.enabled:
            return None
        last = Job.objects.filter(pk=s.last_job_id).values_list("status", flat=True).first() if s.last_job_id else None
        if s.overlap == "skip" and last is not None and last not in FINAL_JOB_STATES:
            Schedule.objects.filter(pk=s.pk).update(skipped=s.skipped + 1, last_run_at=timezone.now())
            return None
        spec = dict(s.spec)
        spec["labels"] = {**dict(spec.get("labels") or {}), "schedule": s.name}
        job = submission.submit_job(JobSpec.parse(spec), owner=s.owner)
        Schedule.objects.filter(pk=s.pk).update(last_job_id=job.pk, last_run_at=timezone.now(), runs=s.runs + 1)
    return int(job.pk)
