"""Attempts (one execution try each, numbered by the fencing token it ran under) and the artifacts they leave."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..states import AttemptOutcome
from .fields import state_choices
from .jobs import Job
from .tasks import Task


class Attempt(models.Model):
    """One execution try. Opened at claim, closed once; the number is the fencing token it ran under."""

    # Attempts and decisions are append-only rows that only the engine writes, in the same statement or
    # transaction as the rows they point to; Django emulates on_delete itself. So their foreign keys have
    # no database constraint: each would cost a locking lookup of its parent row on every insert.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="attempt_set", verbose_name=_("task"),
                             db_index=False, db_constraint=False)  # weft_attempt_task_number_uniq
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("job"),
                            db_index=False, db_constraint=False)  # weft_attempt_job_idx
    number = models.PositiveIntegerField(_("number"))
    outcome = models.CharField(_("outcome"), max_length=10, choices=state_choices(AttemptOutcome),
                               default=AttemptOutcome.RUNNING)
    worker = models.CharField(_("worker host"), max_length=200, blank=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    celery_id = models.CharField(_("Celery task id"), max_length=255, blank=True)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration = models.FloatField(_("duration (s)"), null=True, blank=True)
    exit_code = models.IntegerField(_("exit code"), null=True, blank=True)
    error_type = models.CharField(_("error type"), max_length=200, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    traceback = models.TextField(_("traceback"), blank=True)
    stdout = models.TextField(_("stdout (tail)"), blank=True)
    stderr = models.TextField(_("stderr (tail)"), blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    peak_rss_mb = models.FloatField(_("peak RSS (MB)"), null=True, blank=True)
    cpu_seconds = models.FloatField(_("CPU (s)"), null=True, blank=True)
    peak_open_files = models.IntegerField(_("peak open files"), null=True, blank=True)
    limit_hit = models.CharField(_("limit hit"), max_length=30, blank=True)
    cost = models.FloatField(_("cost"), default=0.0)

    class Meta:
        verbose_name = _("attempt")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["task", "number"], name="weft_attempt_task_number_uniq"),
            models.CheckConstraint(condition=Q(number__gte=1), name="weft_attempt_number_gte_1"),
        ]
        indexes: ClassVar = [models.Index(fields=["job"], name="weft_attempt_job_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of task {self.task_id} ({self.outcome})"


class ArtifactKind(models.TextChoices):
    JSON = "json", _("JSON")
    """A JSON value."""
    TEXT = "text", _("text")
    """Plain text."""
    FILE = "file", _("file")
    """A path to a file."""
    URL = "url", _("URL")
    """A link."""


class Artifact(models.Model):
    """An output of an attempt, kept beside its result."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="artifacts", verbose_name=_("job"))
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts", verbose_name=_("task"),
                             db_index=False)  # weft_artifact_task_idx
    attempt = models.ForeignKey(Attempt, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="artifacts", verbose_name=_("attempt"))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=ArtifactKind.choices, default=ArtifactKind.JSON)
    value = models.JSONField(_("value"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("artifact")
        indexes: ClassVar = [models.Index(fields=["task"], name="weft_artifact_task_idx")]

    def __str__(self) -> str:
        return self.name
