"""Reads, named as adjectives: ``Task.objects.ready()``, ``Job.objects.running()``..."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from ..states import FINAL_JOB_STATES, FINAL_TASK_STATES, JobStatus, TaskStatus

if TYPE_CHECKING:
    from .jobs import Job  # noqa: F401
    from .tasks import Task  # noqa: F401

_M = TypeVar("_M", bound=models.Model)


class LockingQuerySet(models.QuerySet[_M]):
    def get_locked(self) -> _M | None:
        """The one locking read: the first row nobody else holds, locked until commit."""
        return self.select_for_update(skip_locked=True).first()


class JobQuerySet(LockingQuerySet["Job"]):
    def running(self) -> JobQuerySet:
        return self.filter(status=JobStatus.RUNNING)

    def finished(self) -> JobQuerySet:
        return self.filter(status__in=FINAL_JOB_STATES)

    def past_deadline(self) -> JobQuerySet:
        return self.running().filter(deadline__lte=Now())


class TaskQuerySet(LockingQuerySet["Task"]):
    def ready(self) -> TaskQuerySet:
        """Queued and due: the next candidates for a worker."""
        return self.filter(status=TaskStatus.QUEUED).filter(Q(not_before__isnull=True) | Q(not_before__lte=Now()))

    def running(self) -> TaskQuerySet:
        return self.filter(status=TaskStatus.RUNNING)

    def live(self) -> TaskQuerySet:
        return self.exclude(status__in=FINAL_TASK_STATES)

    def finished(self) -> TaskQuerySet:
        return self.filter(status__in=FINAL_TASK_STATES)

    def expired(self) -> TaskQuerySet:
        """Running under a lease that has run out: the worker died, hung or lost the database."""
        return self.running().filter(lease_expires_at__lt=Now())

    def undelivered(self, after: float) -> TaskQuerySet:
        """Queued, due, and sent longer than ``after`` seconds ago without being claimed (not held back by a
        limit or a lock at a claim: ``waiting()``)."""
        return self.ready().filter(dispatched_at__lt=Now() - timedelta(seconds=after), waiting_for="")

    def waiting(self, after: float) -> TaskQuerySet:
        """Queued and due, held back at a claim by a limit or a lock, and last sent over ``after`` seconds ago."""
        return self.ready().filter(governed=True, dispatched_at__lt=Now() - timedelta(seconds=after)).exclude(
            waiting_for="")
