"""Finished work counted as it happens: the Prometheus counters and the dashboard's last hour read these rows,
never the history tables (docs/operations.md, "Metrics")."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class Tally(models.Model):
    """How many tasks of a skill reached a final status, or attempts an outcome, in one minute.

    Written only by database triggers on weft_task and weft_attempt (migration 0022_tally, tallies.py), so
    every writer counts, the single-statement fast paths and bulk updates included. A trigger only inserts
    (``n=1``): no row is updated by two transactions, so none waits on another and a bulk cancel of many
    tasks costs one small insert each. The sweep merges rows into one per (minute, skill, kind, value) and
    folds minutes older than ``tallies.KEEP_MINUTES`` into totals at the epoch, so the table stays small.
    ``kind="queued"`` rows are the sweep's samples of each skill's backlog (a minute keeps its largest).
    """

    minute = models.DateTimeField(_("minute"))
    skill = models.CharField(_("skill"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, help_text=_("task, attempt or queued"))
    value = models.CharField(_("value"), max_length=20, help_text=_("a task's final status, an attempt's outcome"))
    n = models.BigIntegerField(_("count"), default=0)

    class Meta:
        verbose_name = _("tally")
        verbose_name_plural = _("tallies")
        indexes: ClassVar = [models.Index(fields=["minute"], name="weft_tally_minute_idx")]

    def __str__(self) -> str:
        return f"{self.minute:%H:%M} {self.skill} {self.kind} {self.value}: {self.n}"
