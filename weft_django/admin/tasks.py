"""The task's admin: its list, its page and the actions on it; and the attempts and decisions lists."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import reports, service
from ..models import Attempt, Decision, Task
from .base import Acting, OfVisibleJobs, pre


@admin.register(Task)
class TaskAdmin(Acting):
    list_display = ("id", "job_id", "key", "skill_name", "status", "attempts", "worker", "started_at", "finished_at")
    list_filter = ("status", "skill_name", "queue")
    search_fields = ("key", "skill_name", "error")
    list_select_related = ("job",)
    actions = ("cancel_tasks", "approve_tasks", "reject_tasks")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return reports.visible_tasks(request.user, super().get_queryset(request))

    @admin.action(description=_("Cancel selected tasks"), permissions=["cancel"])
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = len(self.act(request, reports.ids(queryset),
                         lambda pk: service.cancel_task(pk, by=request.user)))
        self.message_user(request, ngettext("%d task cancelled.", "%d tasks cancelled.", n) % n, messages.SUCCESS)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return service.may_approve(request.user)

    @admin.action(description=_("Approve selected tasks (those awaiting approval)"), permissions=["approve"])
    def approve_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = len(self.act(request, reports.ids(queryset),
                         lambda pk: service.approve(pk, by=request.user)))
        self.message_user(request, ngettext("%d task approved.", "%d tasks approved.", n) % n, messages.SUCCESS)

    @admin.action(description=_("Reject selected tasks (those awaiting approval)"), permissions=["approve"])
    def reject_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        n = len(self.act(request, reports.ids(queryset),
                         lambda pk: service.reject(pk, by=request.user)))
        self.message_user(request, ngettext("%d task rejected.", "%d tasks rejected.", n) % n, messages.SUCCESS)


@admin.register(Attempt)
class AttemptAdmin(OfVisibleJobs):
    list_display = ("id", "task_id", "number", "outcome", "worker", "pid", "duration", "limit_hit", "error_type")
    list_filter = ("outcome", "limit_hit")
    search_fields = ("error_type", "error_message", "worker")
    readonly_fields = ("traceback_pre",)

    @admin.display(description=_("traceback"))
    def tracebackpre(self, obj: Attempt) -> str:
        return pre(obj.traceback)


@admin.register(Decision)
class DecisionAdmin(OfVisibleJobs):
    list_display = ("id", "job_id", "task_id", "action", "policy", "reason", "created_at")
    list_filter = ("action", "policy")
    search_fields = ("reason",)
