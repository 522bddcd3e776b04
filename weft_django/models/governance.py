"""Governance: policy rules kept in the database, the records of what policies did, and the audit trail of
what people did (who, when, from where)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .jobs import Job
from .tasks import Task


class Policy(models.Model):
    """A policy rule editable in the admin (docs/governance.md); checked whole before it is saved."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    reason = models.TextField(_("reason"), blank=True, help_text=_("Said to whoever the rule refuses or changes."))
    match = models.JSONField(_("match"), default=dict, blank=True,
                             help_text=_('What it applies to, e.g. {"skill": "report.*", "labels": {"team": "ml"}}.'))
    effects = models.JSONField(_("effects"), default=dict,
                               help_text=_('What it does, e.g. {"deny": true} or {"limits": {"memory_mb": 2048}}.'))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("policy")
        verbose_name_plural = _("policies")

    def __str__(self) -> str:
        return self.name


class PolicyOutcome(models.TextChoices):
    REFUSED = "refused", _("refused")
    """The submission was refused: nothing else was written (no job)."""
    CHANGED = "changed", _("changed")
    """A task's settings or its job's budget were changed (capped, routed, ranked)."""
    HELD = "held", _("held")
    """A task was held: for approval at submission, or not started at claim."""


class PolicyDecision(models.Model):
    """What one policy did to one submission or task, and why; written through lifecycle/ledger.py."""

    rule = models.CharField(_("rule"), max_length=100)
    scope = models.CharField(_("scope"), max_length=10)
    outcome = models.CharField(_("outcome"), max_length=10, choices=PolicyOutcome.choices)
    skill = models.CharField(_("skill"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=200, blank=True, help_text=_("The field a refusal names."))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name=_("submitted by"), db_constraint=False)
    matched = models.JSONField(_("what it matched"), default=dict, blank=True)
    changed = models.JSONField(_("what it changed"), default=list, blank=True)
    reason = models.TextField(_("reason"))
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_decisions",
                            verbose_name=_("job"), db_constraint=False)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE, related_name="policy_decisions",
                             verbose_name=_("task"), db_index=False, db_constraint=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("policy decision")
        indexes: ClassVar = [models.Index(fields=["task"], condition=models.Q(task__isnull=False),
                                          name="weft_policydecision_task_idx")]

    def __str__(self) -> str:
        return f"{self.rule}: {self.outcome}"


class Via(models.TextChoices):
    ADMIN = "admin", _("admin")
    API = "api", _("HTTP API")
    COMMAND = "command", _("command")
    CODE = "code", _("code")


class AuditAction(models.TextChoices):
    CANCEL_JOB = "cancel_job", _("cancel job")
    CANCEL_TASK = "cancel_task", _("cancel task")
    RERUN = "rerun", _("rerun")
    APPROVE = "approve", _("approve")
    REJECT = "reject", _("reject")
    RETRY_TASK = "retry_task", _("retry task")
    UNBLOCK = "unblock", _("unblock task")
    POLICY_ADD = "policy_add", _("policy added")
    POLICY_CHANGE = "policy_change", _("policy changed")
    POLICY_DELETE = "policy_delete", _("policy deleted")
    SKILL_ENABLE = "skill_enable", _("skill enabled")
    SKILL_DISABLE = "skill_disable", _("skill disabled")
    SKILL_LIMITS = "skill_limits", _("skill limits changed")
    AGENT_REGISTER = "agent_register", _("agent registered")
    AGENT_CLAIM = "agent_claim", _("task claimed by an agent")
    AGENT_SWITCH = "agent_switch", _("agent switched on or off")


class AuditEntry(models.Model):
    """One thing a person (or code) did: who, when, from where, to what; written through lifecycle/ledger.py."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+", verbose_name=_("user"), db_constraint=False)
    actor_name = models.CharField(_("who"), max_length=200, blank=True)
    via = models.CharField(_("from"), max_length=10, choices=Via.choices)
    action = models.CharField(_("action"), max_length=20, choices=AuditAction.choices)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries",
                            verbose_name=_("job"), db_constraint=False)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_entries",
                             verbose_name=_("task"), db_index=False, db_constraint=False)
    target = models.CharField(_("target"), max_length=300, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")

    def __str__(self) -> str:
        return f"{self.actor_name or 'code'} {self.action} via {self.via}"
