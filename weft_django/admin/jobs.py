"""The job's admin: its list, its page and the actions on it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import reports, service
from ..models import Job, Task
from .base import Acting, pre

EXPLAIN_LINES = 200


class FirstTasks(BaseInlineFormSet):
    """The inline's rows: the job's first tasks only (a job may have tens of thousands)."""

    def get_queryset(self) -> QuerySet[Task]:
        # Sliced once and kept: the formset reads it again for every row, and a new slice would query again.
        if not hasattr(self, "_first"):
            self._first = reports.first(super().get_queryset(), TaskInline.shown)
        return self._first


class TaskInline(admin.TabularInline):
    model = Task
    formset = FirstTasks
    shown = 50  # the rest are one click away: JobAdmin.all_tasks links to the task list of the job
    verbose_name_plural = _("first tasks")
    fields = ("key", "skill_name", "status", "attempts", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(Acting):
    list_display = ("id", "name", "status", "tasks_total", "tasks_open", "owner", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "idempotency_key", "stop_reason")
    fields = ("explanation", "name", "status", "stop_reason", "owner", "labels", "idempotency_key",
              "max_attempts", "max_cost", "deadline", "cost", "tasks_total", "all_tasks", "tasks_open",
              "tasks_failed", "created_at", "finished_at")
    readonly_fields = ("explanation", "all_tasks", "created_at")
    inlines = (TaskInline,)
    actions = ("cancel_jobs", "rerun_jobs")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return reports.visible_jobs(request.user, super().get_queryset(request))

    @admin.display(description=_("why it ended as it did"))
    def explanation(self, obj: Job) -> str:
        # A page of the job's tasks (the inline's), its cause first, at most EXPLAIN_LINES of it: a job of many
        # tasks has a decision per task or more; the rest is one click away in the decision list.
        page = reports.explain_page(obj.pk, limit=TaskInline.shown)
        lines = str(page["explain"]).splitlines()
        if len(lines) <= EXPLAIN_LINES and page["next_after"] is None:
            return pre("\n".join(lines))
        url = f"{reverse('admin:weft_decision_changelist')}?job__id__exact={obj.pk}"
        return format_html("{}<p>{} <a href=\"{}\">{}</a></p>", pre("\n".join(lines[:EXPLAIN_LINES])),
                           _("... this job goes on:"), url, _("every decision of this job"))

    @admin.display(description=_("all its tasks"))
    def all_tasks(self, obj: Job) -> str:
        url = reverse("admin:weft_task_changelist")
        return format_html('<a href="{}?job__id__exact={}">{}</a> ({})', url, obj.pk, _("the task list of this job"),
                           _("below: the first %(n)d") % {"n": TaskInline.shown})

    @admin.action(description=_("Cancel selected jobs"), permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        n = len(self.act(request, reports.ids(queryset),
                         lambda pk: service.cancel(pk, by=request.user)))
        self.message_user(request, ngettext("%d job cancelled.", "%d jobs cancelled.", n) % n, messages.SUCCESS)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return service.may_rerun(request.user)

    @admin.action(description=_("Run selected jobs again (as new jobs of yours)"), permissions=["rerun"])
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        # Checked like the HTTP API (weft.run_skill and each skill's own permission); the new jobs are the
        # acting user's. A job refused (e.g. a skill disabled since) is reported; the others are submitted.
        new = [job.pk for job in self.act(request, reports.ids(queryset),
                                          lambda pk: service.rerun(pk, by=request.user))]
        if new:
            self.message_user(request, ngettext("Submitted again as job %s.", "Submitted again as jobs %s.",
                                                len(new)) % ", ".join(map(str, new)), messages.SUCCESS)
