"""Schedules: a job spec submitted periodically (schedules.py), by django-celery-beat."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Overlap(models.TextChoices):
    SKIP = "skip", _("skip a run while the last one is still going")
    QUEUE = "queue", _("submit anyway: runs may overlap")


class Schedule(models.Model):
    """A JobSpec document submitted every ``every_seconds`` or on a cron line, as its owner."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    spec = models.JSONField(_("job spec"),
                            help_text=_('a JobSpec document: {"tasks": [{"skill": ..., "params": ...}]}'))
    every_seconds = models.PositiveIntegerField(_("every (seconds)"), null=True, blank=True)
    cron = models.CharField(_("cron"), max_length=100, blank=True,
                            help_text=_('"minute hour day-of-month month day-of-week", e.g. "*/15 * * * *"'))
    overlap = models.CharField(_("overlap"), max_length=5, choices=Overlap.choices, default=Overlap.SKIP)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name=_("owner"), db_constraint=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_job_id = models.BigIntegerField(_("last job"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    runs = models.PositiveIntegerField(_("runs"), default=0)
    skipped = models.PositiveIntegerField(_("runs skipped (overlap)"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("schedule")

    def __str__(self) -> str:
        return f"{self.name}: every {self.every_seconds} s" if self.every_seconds else f"{self.name}: {self.cron}"
