"""Agents outside Celery: processes that register, claim, renew and report over HTTP (lifecycle/external.py)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .tasks import Task


class Agent(models.Model):
    """A process that takes tasks over the HTTP claim API instead of from a Celery queue, e.g. ``weft_agent``."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    capabilities = models.JSONField(_("capabilities"), default=list, blank=True, help_text=_(
        "Its labels (sorted): it claims a task only if they cover every capability the task requires."))
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+", verbose_name=_("registered by"), help_text=_(
                                          "The user it acts as: only they may claim, renew and report for it."))
    enabled = models.BooleanField(_("enabled"), default=True, help_text=_(
        "Switched off, it claims nothing more (what it holds it may still renew and report)."))
    current_task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                     verbose_name=_("current task"))
    registered_at = models.DateTimeField(_("registered"), auto_now_add=True)
    last_heartbeat = models.DateTimeField(_("last heartbeat"), null=True, blank=True)

    class Meta:
        verbose_name = _("agent")
        # Every endpoint of the claim API asks for it (besides the agent being the caller's own).
        permissions: ClassVar = [("act_as_agent", _("Can register as an agent and claim, renew and report tasks "
                                                    "over HTTP"))]

    def __str__(self) -> str:
        return self.name
