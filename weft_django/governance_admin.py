"""Admin of governance: Policy rows (edited, checked whole before they are saved, each change audited),
and the read-only lists of policy decision records and of the audit trail. Imported by admin.py."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import reports, service
from .admin.base import Checked
from .exceptions import InvalidInput
from .models import AuditEntry, Policy, PolicyDecision


class PolicyForm(forms.ModelForm):
    class Meta:
        model = Policy
        fields = ("name", "enabled", "reason", "match", "effects")

    def clean(self) -> dict[str, Any]:
        """The whole rule, checked as the engine reads it: an error names its field (``effects.timeout``)
        and goes on the form field it is in, and nothing is saved."""
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            service.check_policy(data, self.instance.pk)
        except InvalidInput as exc:
            top = exc.field.split(".")[0].split("[")[0]
            self.add_error(top if top in self.fields else None, str(exc))
        return data


@admin.register(Policy)
class PolicyAdmin(Checked):
    form = PolicyForm
    list_display = ("name", "enabled", "reason", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "reason")

    def save_model(self, request: HttpRequest, obj: Policy, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        service.policy_saved(obj.pk, created=not change, by=request.user, via="admin",
                             changed=list(form.changed_data))

    def delete_model(self, request: HttpRequest, obj: Policy) -> None:
        name = obj.name
        super().delete_model(request, obj)
        service.policy_deleted(name, by=request.user, via="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Policy]) -> None:
        names = list(queryset.values_list("name", flat=True))
        super().delete_queryset(request, queryset)
        for name in names:
            service.policy_deleted(name, by=request.user, via="admin")


class Recorded(Checked):
    """Rows the engine writes: shown, never changed."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PolicyDecision)
class PolicyDecisionAdmin(Recorded):
    list_display = ("id", "created_at", "rule", "scope", "outcome", "skill", "field", "job_id", "task_id", "reason")
    list_filter = ("outcome", "scope", "rule")
    search_fields = ("rule", "skill", "reason")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyDecision]:
        # Refusals have no job: those are shown to whoever may see every job.
        return reports.visible_governance(request.user, super().get_queryset(request))


@admin.register(AuditEntry)
class AuditEntryAdmin(Recorded):
    list_display = ("id", "created_at", "actor_name", "via", "action", "job_id", "task_id", "target")
    list_filter = ("via", "action")
    search_fields = ("actor_name", "target")
    verbose_name_plural = _("audit trail")

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return reports.visible_governance(request.user, super().get_queryset(request))
