"""Rate buckets: the one row per rate-limit key that every worker's claim updates under a row lock."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateBucket(models.Model):
    """One rate limit's state (lifecycle/rate.py): the earliest moment the next claim under it may start, and
    the next moment not yet promised to a waiting task."""

    key = models.CharField(_("key"), max_length=300)
    next_at = models.DateTimeField(_("next moment not promised"))
    free_at = models.DateTimeField(_("next start allowed"), null=True, blank=True)

    class Meta:
        verbose_name = _("rate bucket")
        constraints: ClassVar = [models.UniqueConstraint(fields=["key"], name="weft_ratebucket_key_uniq")]

    def __str__(self) -> str:
        return f"{self.key}: next start from {self.free_at}, next moment {self.next_at.isoformat()}"
