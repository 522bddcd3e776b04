"""Admin for operators: jobs, tasks, attempts and decisions are read-only (the engine owns them);
actions call the same engine functions as the API and the commands."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import completion, reports, service
from .exceptions import WeftError
from .models import Attempt, Decision, Job, Skill, Task, Worker


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, default=str)
    return format_html("<pre style='white-space:pre-wrap;margin:0'>{}</pre>", text)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskInline(admin.TabularInline):
    model = Task
    fields = ("key", "skill_name", "status", "attempts", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnly):
    list_display = ("id", "name", "status", "tasks_total", "tasks_open", "owner", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "idempotency_key", "stop_reason")
    fields = ("explanation", "name", "status", "stop_reason", "owner", "labels", "idempotency_key",
              "max_attempts", "max_cost", "deadline", "cost", "tasks_total", "tasks_open", "tasks_failed",
              "created_at", "finished_at")
    readonly_fields = ("explanation", "created_at")
    inlines = (TaskInline,)
    actions = ("cancel_jobs", "rerun_jobs")

    @admin.display(description=_("why it ended as it did"))
    def explanation(self, obj: Job) -> str:
        return _pre(reports.explain(obj.pk))

    @admin.action(description=_("Cancel selected jobs"))
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        n = sum(completion.cancel(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d job cancelled.", "%d jobs cancelled.", n) % n, messages.SUCCESS)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("weft.run_skill")

    @admin.action(description=_("Run selected jobs again (as new jobs)"), permissions=["rerun"])
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        new = []
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                new.append(service.rerun(pk).pk)
            except WeftError as exc:  # e.g. a skill disabled since: say so, submit the others
                self.message_user(request, _("Job %(job)s was not run again: %(why)s") % {"job": pk, "why": exc},
                                  messages.ERROR)
        if new:
            self.message_user(request, ngettext("Submitted again as job %s.", "Submitted again as jobs %s.",
                                                len(new)) % ", ".join(map(str, new)), messages.SUCCESS)


@admin.register(Task)
class TaskAdmin(ReadOnly):
    list_display = ("id", "job_id", "key", "skill_name", "status", "attempts", "worker", "started_at", "finished_at")
    list_filter = ("status", "skill_name", "queue")
    search_fields = ("key", "skill_name", "error")
    list_select_related = ("job",)
    actions = ("cancel_tasks", "approve_tasks", "reject_tasks")

    @admin.action(description=_("Cancel selected tasks"))
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = sum(completion.cancel_task(pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d task cancelled.", "%d tasks cancelled.", n) % n, messages.SUCCESS)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("weft.approve_task")

    @admin.action(description=_("Approve selected tasks (those awaiting approval)"), permissions=["approve"])
    def approve_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = sum(service.approve(pk, by=request.user) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d task approved.", "%d tasks approved.", n) % n, messages.SUCCESS)

    @admin.action(description=_("Reject selected tasks (those awaiting approval)"), permissions=["approve"])
    def reject_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = sum(service.reject(pk, by=request.user) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, ngettext("%d task rejected.", "%d tasks rejected.", n) % n, messages.SUCCESS)


@admin.register(Attempt)
class AttemptAdmin(ReadOnly):
    list_display = ("id", "task_id", "number", "outcome", "worker", "pid", "duration", "limit_hit", "error_type")
    list_filter = ("outcome", "limit_hit")
    search_fields = ("error_type", "error_message", "worker")
    readonly_fields = ("traceback_pre",)

    @admin.display(description=_("traceback"))
    def traceback_pre(self, obj: Attempt) -> str:
        return _pre(obj.traceback)


@admin.register(Decision)
class DecisionAdmin(ReadOnly):
    list_display = ("id", "job_id", "task_id", "action", "policy", "reason", "created_at")
    list_filter = ("action", "policy")
    search_fields = ("reason",)


@admin.register(Worker)
class WorkerAdmin(ReadOnly):
    list_display = ("hostname", "pid", "state", "started_at", "last_heartbeat")
    list_filter = ("state",)


@admin.register(Skill)
class SkillAdmin(admin.ModelAdmin):
    """The rows mirror the skills registered in code (``weft_skills --sync``), which is where a skill's
    definition changes; the operator's switch is ``enabled``: a disabled skill accepts no new tasks."""

    list_display = ("name", "version", "kind", "queue", "timeout", "enabled")
    list_filter = ("kind", "enabled")
    list_editable = ("enabled",)
    search_fields = ("name", "description")
    readonly_fields = ("name", "version", "kind", "target", "params_schema", "limits", "retry", "timeout", "queue",
                       "priority", "description", "requires_approval", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a skill is registered in code; a row without code behind it would run nothing

    def has_delete_permission(self, request: HttpRequest, obj: Skill | None = None) -> bool:
        return False  # the next sync would bring it back; disable it instead
