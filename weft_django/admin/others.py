"""Workers (read-only), skills (the operator's switch: enabled), loops' iterations (read-only) and
notification subscriptions (editable)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import service
from ..exceptions import InvalidInput, WeftError
from ..models import Iteration, Schedule, Skill, Subscription, Worker
from .base import Checked, OfVisibleJobs, ReadOnly


@admin.register(Iteration)
class IterationAdmin(OfVisibleJobs):
    """A loop's progress log: one row per iteration (loops.py)."""

    list_display = ("id", "task_id", "number", "of", "passed", "tokens", "cost", "duration", "created_at")
    list_filter = ("passed",)
    search_fields = ("summary", "validation")


@admin.register(Worker)
class WorkerAdmin(ReadOnly):
    list_display = ("hostname", "pid", "state", "started_at", "last_heartbeat")
    list_filter = ("state",)


@admin.register(Skill)
class SkillAdmin(Checked):
    """The rows mirror the skills registered in code (``weft_skills --sync``), which is where a skill's
    definition changes; the operator's switch is ``enabled``: a disabled skill accepts no new tasks."""

    list_display = ("name", "version", "kind", "queue", "timeout", "concurrency", "rate", "enabled")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name", "description")
    readonly_fields = ("name", "version", "kind", "target", "params_schema", "limits", "retry", "timeout", "queue",
                       "priority", "locks", "description", "requires_approval", "created_at", "updated_at")

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean(this: Any) -> dict[str, Any]:
            # The operator's concurrency and rate (they override the code's): refused whole, naming the field,
            # before anything is saved.
            data: dict[str, Any] = form.clean(this) or {}
            for field in ("concurrency", "rate"):
                if field in data:
                    try:
                        service.check_skill_limit(field, data[field])
                    except WeftError as exc:
                        this.add_error(field, str(exc))
            return data

        return type(form.__name__, (form,), {"clean": clean})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a skill is registered in code; a row without code behind it would run nothing

    def has_delete_permission(self, request: HttpRequest, obj: Skill | None = None) -> bool:
        return False  # the next sync would bring it back; disable it instead

    def save_model(self, request: HttpRequest, obj: Skill, form: Any, change: bool) -> None:
        # ``enabled`` is switched through the service, which records who did it; the operator's concurrency and
        # rate (checked by the form) are saved with the row.
        service.set_skill_enabled(obj.pk, obj.enabled, by=request.user, via="admin")
        if {"concurrency", "rate"} & set(form.changed_data):
            service.set_skill_limits(obj.pk, obj.concurrency, obj.rate, by=request.user, via="admin")


@admin.register(Subscription)
class SubscriptionAdmin(Checked):
    """Who is told about which job and task events (notifications.py): a signed webhook or an e-mail, delivered
    by weft tasks of the skill ``weft.notify``."""

    list_display = ("name", "target", "enabled", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name", "target")


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = Schedule
        fields = ("name", "spec", "every_seconds", "cron", "overlap", "owner", "enabled")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            service.check_schedule(data)
        except InvalidInput as exc:
            field = exc.field.split(".")[0].split("[")[0]
            raise forms.ValidationError({field if field in self.fields else "spec": f"{exc}"}) from None
        return data


@admin.register(Schedule)
class ScheduleAdmin(Checked):
    """A job spec submitted periodically by beat (schedules.py); its runs are the jobs labelled ``schedule``."""

    form = ScheduleForm
    list_display = ("name", "every_seconds", "cron", "overlap", "enabled", "runs", "skipped", "last_run_at",
                    "last_job")
    list_filter = ("enabled", "overlap")
    readonly_fields = ("last_job_id", "last_run_at", "runs", "skipped", "created_at")

    @admin.display(description=_("last job"))
    def last_job(self, obj: Schedule) -> str:
        if obj.last_job_id is None:
            return "-"
        return format_html('<a href="{}">{}</a> · <a href="{}?label=schedule%3D{}">{}</a>',
                           reverse("admin:weft_job_change", args=[obj.last_job_id]), obj.last_job_id,
                           reverse("admin:weft_job_changelist"), obj.name, _("every run"))

    def save_model(self, request: HttpRequest, obj: Schedule, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        service.install_schedule(obj)

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        pk = obj.pk
        super().delete_model(request, obj)
        service.uninstall_schedule(pk)

