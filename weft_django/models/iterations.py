"""Iterations of a loop skill (loops.py): the progress log a loop carries from one iteration to the next."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .attempts import Attempt
from .jobs import Job
from .tasks import Task


class Iteration(models.Model):
    """One pass of a loop: what its step did, what the validation said, what it used. Append-only, written once
    per number (a loop recovered after a crash resumes at the next number and never writes one twice)."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="iterations", verbose_name=_("task"),
                             db_index=False, db_constraint=False)  # weft_iteration_task_number_uniq
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+", verbose_name=_("job"),
                            db_index=False, db_constraint=False)
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="iterations",
                                verbose_name=_("attempt"), null=True, db_index=False, db_constraint=False)
    number = models.PositiveIntegerField(_("number"))
    of = models.PositiveIntegerField(_("of at most"))
    summary = models.TextField(_("what the step did"), blank=True)
    passed = models.BooleanField(_("validation passed"), default=False)
    validation = models.TextField(_("validation output"), blank=True)
    tokens = models.PositiveBigIntegerField(_("tokens"), default=0)
    tokens_limit = models.PositiveBigIntegerField(_("the loop's token budget"), null=True, blank=True)
    cost = models.FloatField(_("cost"), default=0.0)
    duration = models.FloatField(_("duration (s)"), null=True, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)  # the step's, kept when the validation passed
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("iteration")
        ordering = ("task", "number")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["task", "number"], name="weft_iteration_task_number_uniq"),
            models.CheckConstraint(condition=Q(number__gte=1), name="weft_iteration_number_gte_1"),
        ]
        indexes: ClassVar = [models.Index(fields=["job"], name="weft_iteration_job_idx")]

    def __str__(self) -> str:
        return f"iteration {self.number} of {self.of} of task {self.task_id}"
