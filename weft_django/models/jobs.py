"""Jobs: what a user submits, watches, cancels and gets results from."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..states import JobStatus
from .fields import ReadableDateTimeField, state_choices
from .querysets import JobQuerySet

if TYPE_CHECKING:
    from ..handoff import Delivery


class Job(models.Model):
    """What a user submits, watches, cancels and gets results from: one task or a DAG, with a budget."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="weft_jobs", verbose_name=_("owner"), db_index=False,  # weft_job_owner_created_idx
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=state_choices(JobStatus), default=JobStatus.RUNNING)
    stop_reason = models.TextField(_("stop reason"), blank=True)
    # NULL, not "", so that the partial unique constraint ignores jobs without a key.
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, null=True, blank=True)  # noqa: DJ001
    labels = models.JSONField(_("labels"), default=dict, blank=True)
    max_attempts = models.PositiveIntegerField(_("budget: attempts"), null=True, blank=True)
    max_cost = models.FloatField(_("budget: cost"), null=True, blank=True)
    max_tokens = models.PositiveBigIntegerField(_("budget: tokens"), null=True, blank=True)
    deadline = ReadableDateTimeField(_("budget: deadline"), null=True, blank=True)
    cost = models.FloatField(_("cost spent"), default=0.0)
    # Counted as they are spent (an LLM call, a loop's report), not at the attempt's end: a long agent loop
    # is stopped by the job's token budget while it runs (lifecycle/budget.py).
    tokens = models.PositiveBigIntegerField(_("tokens used"), default=0)
    tasks_total = models.PositiveIntegerField(_("tasks"), default=0)
    tasks_open = models.IntegerField(_("tasks not final"), default=0)
    tasks_failed = models.IntegerField(_("tasks not succeeded"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    objects = JobQuerySet.as_manager()
    # Not a column: on the job that submit() / submit_job() return, whether its task messages reached the
    # broker (docs/api.md); None on a job read from the database.
    delivery: Delivery | None = None

    # Not a column: True on the job an idempotent re-submission returned (the HTTP API answers 200, not 201).
    resubmitted = False

    class Meta:
        verbose_name = _("job")
        # The constants naming them, and the rules using them, are in access.py.
        permissions: ClassVar = [
            ("view_all_jobs", _("Can see every user's jobs (others see their own)")),
            ("cancel_job", _("Can cancel other users' jobs and tasks (owners cancel their own)")),
        ]
        indexes: ClassVar = [
            # Partial, so that the common job (no owner, no deadline) adds nothing to them, on its insert
            # and again on the update that ends it.
            models.Index(fields=["owner", "-created_at"], condition=Q(owner__isnull=False),
                         name="weft_job_owner_created_idx"),
            models.Index(fields=["deadline"], condition=Q(status="running", deadline__isnull=False),
                         name="weft_job_running_deadline_idx"),
        ]
        constraints: ClassVar = [
            # A key names one job per owner (NULLs are distinct in a unique index: the jobs submitted from
            # code, without an owner, need a constraint of their own).
            models.UniqueConstraint(fields=["owner", "idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, owner__isnull=False),
                                    name="weft_job_owner_idempotency_uniq"),
            models.UniqueConstraint(fields=["idempotency_key"],
                                    condition=Q(idempotency_key__isnull=False, owner__isnull=True),
                                    name="weft_job_ownerless_idempotency_uniq"),
            models.CheckConstraint(condition=Q(tasks_open__gte=0), name="weft_job_tasks_open_gte_0"),
            models.CheckConstraint(condition=Q(max_attempts__isnull=True) | Q(max_attempts__gt=0),
                                   name="weft_job_max_attempts_gt_0"),
            models.CheckConstraint(condition=Q(max_cost__isnull=True) | Q(max_cost__gt=0),
                                   name="weft_job_max_cost_gt_0"),
            models.CheckConstraint(condition=Q(max_tokens__isnull=True) | Q(max_tokens__gt=0),
                                   name="weft_job_max_tokens_gt_0"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"
