"""The task's admin: its list, its page (attempts, decisions, the tasks around it) and the actions on it;
and the attempts and decisions lists, each row linking to its task and job."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import reports, service, units
from ..models import Attempt, Decision, Task
from ..reports import lists, pages, task_page
from . import filters
from .base import Acting, OfVisibleJobs, link, pre, when

NOT_WAITING = _("not waiting for approval")


def _error(text: str) -> str:
    return format_html('<span title="{}">{}</span>', text, pages.short(text, 90)) if text else "-"


@admin.register(Task)
class TaskAdmin(Acting):
    list_display = ("id", "job_link", "key", "skill_name", "status", "attempts", "worker", "waiting_for", "took",
                    "error_short", "age")
    list_filter = ("status", "skill_name", "queue", filters.date_range("created_at", _("created")))
    search_fields = ("key", "skill_name", "error")
    actions = ("cancel_tasks", "approve_tasks", "reject_tasks")
    page_actions = {
        "cancel": (_("Cancel this task"), _("Cancel this task? The tasks that depend on it are skipped.")),
        "approve": (_("Approve this task"), _("Let this task run?")),
        "reject": (_("Reject this task"), _("Refuse this task? It fails without running.")),
        "retry": (_("Retry this task"), _("Run this task again? The tasks it skipped wait for it again, and its job "
                                         "runs again if it had ended.")),
        "unblock": (_("Unblock this task"), _("Let this task run again? Its skill is called anew.")),
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Task]:
        return lists.task_rows(reports.visible_tasks(request.user, super().get_queryset(request)))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        task = self.get_object(request, object_id)
        if task is not None and request.GET.get("part") == "attempts":  # what the page fetches while it runs
            if not self.has_view_or_change_permission(request, task):
                raise PermissionDenied
            response = render(request, "admin/weft/task/attempts.html", task_page.task_page(task))
            response["X-Weft-Status"] = task.status
            return response
        if task is not None:
            extra_context = {**(extra_context or {}), **task_page.task_page(task)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("job"), ordering="job_id")
    def job_link(self, obj: Task) -> str:
        return link("job", obj.job_id)

    @admin.display(description=_("duration"))
    def took(self, obj: Task) -> str:
        if obj.started_at and obj.finished_at:
            return units.seconds((obj.finished_at - obj.started_at).total_seconds())
        return "-"

    @admin.display(description=_("error"))
    def error_short(self, obj: Task) -> str:
        return _error(obj.error)

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: Task) -> str:
        return when(obj.created_at)

    def perform(self, request: HttpRequest, verb: str, pk: int) -> None:
        if verb == "cancel":
            done, why = service.cancel_task(pk, by=request.user, via="admin"), _("it had already finished")
        elif verb == "approve":
            done, why = service.approve(pk, by=request.user, via="admin"), NOT_WAITING
        elif verb == "retry":
            done, why = service.retry_task(pk, by=request.user, via="admin"), _("it is not failed or cancelled")
        elif verb == "unblock":
            note = str(request.POST.get("note", ""))
            done, why = service.unblock(pk, note, by=request.user, via="admin"), _("it is not blocked")
        else:
            reason = str(request.POST.get("reason", ""))
            done, why = service.reject(pk, reason, by=request.user, via="admin"), NOT_WAITING
        verbs = {"cancel": _("cancelled"), "approve": _("approved"), "reject": _("rejected"), "retry": _("retried"),
                 "unblock": _("unblocked")}
        if done:
            self.message_user(request, _("Task %(id)s %(done)s.") % {"id": pk, "done": verbs[verb]}, messages.SUCCESS)
        else:
            self.message_user(request, _("Task %(id)s was not %(done)s: %(why)s.") % {
                "id": pk, "done": verbs[verb], "why": why}, messages.WARNING)

    @admin.action(description=_("Cancel selected tasks"), permissions=["cancel"])
    def cancel_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done, unchanged = self.act(request, reports.ids(queryset),
                                   lambda pk: service.cancel_task(pk, by=request.user, via="admin"))
        n = len(done)
        self.tell(request, ngettext("%d task cancelled.", "%d tasks cancelled.", n) % n, unchanged,
                  _("already finished"), n)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return service.may_approve(request.user)

    @admin.action(description=_("Approve selected tasks (those awaiting approval)"), permissions=["approve"])
    def approve_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done, unchanged = self.act(request, reports.ids(queryset),
                                   lambda pk: service.approve(pk, by=request.user, via="admin"))
        n = len(done)
        self.tell(request, ngettext("%d task approved.", "%d tasks approved.", n) % n, unchanged, NOT_WAITING, n)

    @admin.action(description=_("Reject selected tasks (those awaiting approval)"), permissions=["approve"])
    def reject_tasks(self, request: HttpRequest, queryset: QuerySet[Task]) -> None:
        done, unchanged = self.act(request, reports.ids(queryset),
                                   lambda pk: service.reject(pk, by=request.user, via="admin"))
        n = len(done)
        self.tell(request, ngettext("%d task rejected.", "%d tasks rejected.", n) % n, unchanged, NOT_WAITING, n)


@admin.register(Attempt)
class AttemptAdmin(OfVisibleJobs):
    list_display = ("id", "task_link", "job_link", "number", "outcome", "worker", "pid", "took", "memory", "exit",
                    "limit_hit", "error_type", "started")
    list_filter = ("outcome", "limit_hit", filters.date_range("started_at", _("started")))
    search_fields = ("error_type", "error_message", "worker")
    readonly_fields = ("traceback_pre",)

    @admin.display(description=_("task"), ordering="task_id")
    def task_link(self, obj: Attempt) -> str:
        return link("task", obj.task_id)

    @admin.display(description=_("job"), ordering="job_id")
    def job_link(self, obj: Attempt) -> str:
        return link("job", obj.job_id)

    @admin.display(description=_("duration"), ordering="duration")
    def took(self, obj: Attempt) -> str:
        return units.seconds(obj.duration) or "-"

    @admin.display(description=_("peak memory"), ordering="peak_rss_mb")
    def memory(self, obj: Attempt) -> str:
        return units.megabytes(obj.peak_rss_mb) or "-"

    @admin.display(description=_("exit code"), ordering="exit_code")
    def exit(self, obj: Attempt) -> str:
        return units.exit_code(obj.exit_code) or "-"

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, obj: Attempt) -> str:
        return when(obj.started_at)

    @admin.display(description=_("traceback"))
    def traceback_pre(self, obj: Attempt) -> str:
        return pre(obj.traceback)


@admin.register(Decision)
class DecisionAdmin(OfVisibleJobs):
    list_display = ("id", "job_link", "task_link", "action", "policy", "reason", "at")
    list_filter = ("action", "policy", filters.date_range("created_at", _("created")))
    search_fields = ("reason",)

    @admin.display(description=_("job"), ordering="job_id")
    def job_link(self, obj: Decision) -> str:
        return link("job", obj.job_id)

    @admin.display(description=_("task"), ordering="task_id")
    def task_link(self, obj: Decision) -> str:
        return link("task", obj.task_id)

    @admin.display(description=_("when"), ordering="created_at")
    def at(self, obj: Decision) -> str:
        return when(obj.created_at)
