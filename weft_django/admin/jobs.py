"""The job's admin: its list (skill, error, age and duration; skill, owner, label and date filters), its page
(status and cause, graph, timeline, a page of its tasks, then its details) and the actions on it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import reports, service, units
from ..models import Job
from ..reports import lists, pages
from . import filters
from .base import Acting, pre, when

EXPLAIN_LINES = 200


@admin.register(Job)
class JobAdmin(Acting):
    list_display = ("id", "name", "status", "skill", "progress", "error", "owner", "age", "took")
    list_filter = ("status", filters.JobSkillFilter,
                   filters.typed("owner", _("owner"), _("login"), lists.jobs_of_owner),
                   filters.typed("label", _("label"), _("key or key=value"), lists.jobs_labelled),
                   filters.date_range("created_at", _("created")))
    search_fields = ("name", "idempotency_key", "stop_reason")  # and the errors of its tasks: get_search_results
    fields = ("explanation", "governance", "name", "status", "stop_reason", "owner", "labels", "idempotency_key",
              "max_attempts", "max_cost", "max_tokens", "deadline", "spent", "tokens_used", "tasks_total", "all_tasks",
              "tasks_open", "tasks_failed", "created_at", "finished_at")
    readonly_fields = ("explanation", "governance", "all_tasks", "spent", "tokens_used", "created_at")
    actions = ("cancel_jobs", "rerun_jobs")
    page_actions = {
        "cancel": (_("Cancel this job"), _("Cancel this job? Its waiting tasks are cancelled at once, its running "
                                           "ones stopped by their workers.")),
        "rerun": (_("Run this job again"), _("Submit this job again, as a new job of yours?")),
    }

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        return lists.job_rows(reports.visible_jobs(request.user, super().get_queryset(request)))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Job], search_term: str
                           ) -> tuple[QuerySet[Job], bool]:
        """The admin's search of the job's own fields, or of its tasks' errors ("disk full" finds the job)."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found = found | lists.jobs_with_task_error(queryset, search_term.strip())
        return found, duplicates

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        job = self.get_object(request, object_id)
        if job is not None:
            after = request.GET.get("after", "")
            extra_context = {**(extra_context or {}),
                             **pages.job_page(job, units.whole_number(after)),
                             "may_rerun": service.may_rerun(request.user)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("skill"))
    def skill(self, obj: Job) -> str:
        return getattr(obj, "first_skill", None) or "-"

    @admin.display(description=_("tasks done"))
    def progress(self, obj: Job) -> str:
        return f"{obj.tasks_total - max(obj.tasks_open, 0)} / {obj.tasks_total}"

    @admin.display(description=_("error"))
    def error(self, obj: Job) -> str:
        text = obj.stop_reason or getattr(obj, "first_error", None) or ""
        return format_html('<span title="{}">{}</span>', text, pages.short(text, 90)) if text else "-"

    @admin.display(description=_("age"), ordering="created_at")
    def age(self, obj: Job) -> str:
        return when(obj.created_at)

    @admin.display(description=_("duration"))
    def took(self, obj: Job) -> str:
        end = obj.finished_at or timezone.now()
        took = units.seconds((end - obj.created_at).total_seconds()) + ("" if obj.finished_at else " …")
        return format_html('<span style="white-space:nowrap">{}</span>', took)

    @admin.display(description=_("cost spent"))
    def spent(self, obj: Job) -> str:
        return units.cost(obj.cost)

    @admin.display(description=_("tokens used"))
    def tokens_used(self, obj: Job) -> str:
        return units.tokens(obj.tokens, obj.max_tokens)

    @admin.display(description=_("why it ended as it did"))
    def explanation(self, obj: Job) -> str:
        # A page of the job's tasks, its cause first, at most EXPLAIN_LINES of it: a job of many tasks has a
        # decision per task or more; the rest is one click away in the decision list.
        page = reports.explain_page(obj.pk, limit=pages.TASKS_PER_PAGE)
        lines = str(page["explain"]).splitlines()
        if len(lines) <= EXPLAIN_LINES and page["next_after"] is None:
            return pre("\n".join(lines))
        url = f"{reverse('admin:weft_decision_changelist')}?job__id__exact={obj.pk}"
        return format_html("{}<p>{} <a href=\"{}\">{}</a></p>", pre("\n".join(lines[:EXPLAIN_LINES])),
                           _("... this job goes on:"), url, _("every decision of this job"))

    @admin.display(description=_("who did what, and what policies did"))
    def governance(self, obj: Job) -> str:
        g = reports.job_governance(obj.pk)
        lines = [f"{a['created_at']:%Y-%m-%d %H:%M:%S} {a['who']} ({a['via']}): {a['action']}"
                 + (f" task {a['task_id']}" if a["task_id"] else "") for a in g["audit"]]
        lines += [f"{p['created_at']:%Y-%m-%d %H:%M:%S} policy {p['rule']} ({p['scope']}): {p['outcome']}"
                  + (f" task {p['task_id']}" if p["task_id"] else "") + f": {p['reason']}"
                  for p in g["policy_decisions"]]
        return pre("\n".join(lines) or "nothing yet")

    @admin.display(description=_("all its tasks"))
    def all_tasks(self, obj: Job) -> str:
        url = reverse("admin:weft_task_changelist")
        return format_html('<a href="{}?job__id__exact={}">{}</a>', url, obj.pk, _("the task list of this job"))

    def perform(self, request: HttpRequest, verb: str, pk: int) -> None:
        if verb == "cancel":
            if service.cancel(pk, by=request.user, via="admin"):
                self.message_user(request, _("Job %(id)s cancelled.") % {"id": pk}, messages.SUCCESS)
            else:
                self.message_user(request, _("Job %(id)s was not cancelled: it had already finished.") % {"id": pk},
                                  messages.WARNING)
        elif verb == "rerun":
            new = service.rerun(pk, by=request.user, via="admin")
            url = reverse("admin:weft_job_change", args=[new.pk])
            self.message_user(request, format_html(str(_('Submitted again as job <a href="{}">{}</a>.')), url, new.pk),
                              messages.SUCCESS)

    @admin.action(description=_("Cancel selected jobs"), permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        done, unchanged = self.act(request, reports.ids(queryset),
                                   lambda pk: service.cancel(pk, by=request.user, via="admin"))
        n = len(done)
        self.tell(request, ngettext("%d job cancelled.", "%d jobs cancelled.", n) % n, unchanged,
                  _("already finished"), n)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        return service.may_rerun(request.user)

    @admin.action(description=_("Run selected jobs again (as new jobs of yours)"), permissions=["rerun"])
    def rerun_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        # Checked like the HTTP API (weft.run_skill and each skill's own permission); the new jobs are the
        # acting user's. A job refused (e.g. a skill disabled since) is reported; the others are submitted.
        done, _unchanged = self.act(request, reports.ids(queryset),
                                    lambda pk: service.rerun(pk, by=request.user, via="admin"))
        new = [job.pk for job in done]
        if new:
            self.message_user(request, ngettext("Submitted again as job %s.", "Submitted again as jobs %s.",
                                                len(new)) % ", ".join(map(str, new)), messages.SUCCESS)
