"""Rate buckets: the one row per rate-limit key that every worker's claim updates under a row lock."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateBucket(models.Model):
    """The next moment a claim under this rate limit may start (a token bucket of one token: a claim takes
    the next free moment and moves it on by 1/rate; a claim that comes early reserves it and waits)."""

    key = models.CharField(_("key"), max_length=300)
    next_at = models.DateTimeField(_("next free moment"))

    class Meta:
        verbose_name = _("rate bucket")
        constraints: ClassVar = [models.UniqueConstraint(fields=["key"], name="weft_ratebucket_key_uniq")]

    def __str__(self) -> str:
        return f"{self.key}: next at {self.next_at.isoformat()}"
