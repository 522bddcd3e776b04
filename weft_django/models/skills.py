"""Skills: the registered, versioned capabilities a task runs (rows mirror the skills registered in code)."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class SkillKind(models.TextChoices):
    PYTHON = "python", _("python")
    """A Python callable, by dotted path."""
    COMMAND = "command", _("command")
    """An argv template run as a subprocess, never through a shell."""


class Skill(models.Model):
    """A registered, versioned capability. Rows mirror the skills registered in code."""

    name = models.CharField(_("name"), max_length=200)
    version = models.CharField(_("version"), max_length=50, default="1")
    kind = models.CharField(_("kind"), max_length=10, choices=SkillKind.choices)
    target = models.JSONField(_("target"), help_text=_("Dotted path (python) or argv template (command)."))
    params_schema = models.JSONField(_("params schema"), default=dict, blank=True)
    limits = models.JSONField(_("default limits"), default=dict, blank=True)
    retry = models.JSONField(_("retry policy"), default=dict, blank=True)
    timeout = models.FloatField(_("timeout (s)"), null=True, blank=True)
    queue = models.CharField(_("queue"), max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(_("priority"), null=True, blank=True)
    locks = models.JSONField(_("default locks"), default=list, blank=True)
    capabilities = models.JSONField(_("required capabilities"), default=list, blank=True)
    # The operator's, not the code's: sync never writes them. Null: the code's (or WEFT_SKILL_LIMITS').
    concurrency = models.JSONField(_("concurrency limit"), null=True, blank=True, help_text=_(
        'Overrides the code: 5, {"key": "{tenant_id}", "limit": 2}, or a list. Applies to tasks submitted after.'))
    rate = models.JSONField(_("rate limit"), null=True, blank=True, help_text=_(
        'Overrides the code: "10/m", {"key": "{api}", "rate": "100/h"}, or a list. Applies to tasks submitted after.'))
    description = models.TextField(_("description"), blank=True)
    requires_approval = models.BooleanField(_("requires approval"), default=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("skill")
        # The HTTP API runs skills only for users with this (superusers have every permission).
        permissions: ClassVar = [("run_skill", _("Can run skills through the HTTP API"))]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["name", "version"], name="weft_skill_name_version_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"
