"""Subscriptions to job and task events, delivered as signed webhooks or e-mail (notifications.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Subscription(models.Model):
    """Who is told what: events (``job.failed``, ``task.failed`` ...), filtered by skill globs and labels,
    sent to an https/http URL (a webhook signed with ``secret``) or a ``mailto:`` address."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    events = models.JSONField(_("events"), default=list,
                              help_text=_('e.g. ["job.failed", "job.stopped", "task.failed"]'))
    skills = models.JSONField(_("skills (globs)"), default=list, blank=True,
                              help_text=_('task events of these skills only, e.g. ["billing.*"]; empty: any'))
    labels = models.JSONField(_("labels"), default=dict, blank=True,
                              help_text=_("jobs whose labels include all of these; empty: any"))
    target = models.CharField(_("target"), max_length=500, help_text=_("https://... or mailto:ops@example.com"))
    secret = models.CharField(_("signing secret"), max_length=200, blank=True,
                              help_text=_("HMAC-SHA256 key of the X-Weft-Signature header (webhooks)"))
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("subscription")

    def __str__(self) -> str:
        return f"{self.name}: {', '.join(self.events)} -> {self.target}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError as DjangoValidationError

        from ..exceptions import InvalidInput
        from ..subscribing import check_subscription

        try:
            check_subscription({"name": self.name, "events": self.events, "skills": self.skills,
                                "labels": self.labels, "target": self.target, "secret": self.secret})
        except InvalidInput as exc:
            root = exc.field.split(".")[0].split("[")[0]  # "skills[0]", "labels.team": the form's field
            raise DjangoValidationError({root if root in {"events", "skills", "labels", "target", "secret"}
                                         else "__all__": exc.message}) from None
