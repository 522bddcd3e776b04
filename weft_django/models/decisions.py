"""Decisions: the audit trail of every choice the engine made, and why."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from ..states import DecisionAction
from .attempts import Attempt
from .fields import state_choices
from .jobs import Job
from .tasks import Task


class Decision(models.Model):
    """One choice of the engine, with the policy that made it, what it saw and a plain reason."""

    # No database constraints: see Attempt.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("job"),
                            db_index=False, db_constraint=False)  # weft_decision_job_idx
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="decisions",
                             verbose_name=_("task"), db_index=False, db_constraint=False)  # weft_decision_task_idx
    # Never looked up by attempt, and deleted with its job like the attempt itself: no index to keep up
    # on every insert, and nothing for Django to null out when attempts are deleted.
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.DO_NOTHING,
                                related_name="decisions", verbose_name=_("attempt"), db_index=False,
                                db_constraint=False)
    action = models.CharField(_("action"), max_length=20, choices=state_choices(DecisionAction))
    policy = models.CharField(_("policy"), max_length=100, blank=True)
    observation = models.JSONField(_("observation"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("decision")
        indexes: ClassVar = [
            models.Index(fields=["job", "id"], name="weft_decision_job_idx"),
            models.Index(fields=["task"], name="weft_decision_task_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action}: {self.reason}"
