"""Saved, parameterised job specs (``manage.py weft_template``): a JobSpec document whose strings may hold
``{placeholders}``, filled when the template is run."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class JobTemplate(models.Model):
    """A job spec saved under a name; checked like a submission when saved (jobtemplates.py)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    spec = models.JSONField(_("job spec"), help_text=_("a job spec whose strings may hold {placeholders}"))
    defaults = models.JSONField(_("defaults"), default=dict, blank=True,
                                help_text=_("values of placeholders that a run does not give"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("job template")

    def __str__(self) -> str:
        return self.name
