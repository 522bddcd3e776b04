"""The machinery's own rows: the Celery workers the app has seen, and each run of the recovery sweep."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkerState(models.TextChoices):
    ONLINE = "online", _("online")
    """Heartbeats arrive."""
    OFFLINE = "offline", _("offline")
    """Shut down, or silent for longer than WEFT_WORKER_OFFLINE_AFTER."""


class Worker(models.Model):
    """A Celery worker seen by the app."""

    hostname = models.CharField(_("hostname"), max_length=255, unique=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    queues = models.JSONField(_("queues"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=WorkerState.choices, default=WorkerState.ONLINE)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    last_heartbeat = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        verbose_name = _("worker")

    def __str__(self) -> str:
        return self.hostname


class SweepRun(models.Model):
    """One run of the recovery sweep (beat or ``manage.py weft_sweep``) and what it did."""

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True,
                              help_text=_("Rows each step handled: lost, retried, failed, redispatched, ..."))
    error = models.TextField(_("error"), blank=True,
                             help_text=_("Steps that failed, if any (they run again next time)."))

    class Meta:
        verbose_name = _("sweep run")
        indexes: ClassVar = [models.Index(fields=["-started_at"], name="weft_sweeprun_started_idx")]

    def __str__(self) -> str:
        return f"sweep {self.started_at:%Y-%m-%d %H:%M:%S}: {self.counts}"
