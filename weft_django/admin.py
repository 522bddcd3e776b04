"""Admin for operators: jobs, tasks, attempts and decisions are read-only (the engine owns them);
actions call the same service functions as the API and the commands, and every list is cut by ``reports``
to what the user may see."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import reports, service
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


class Acting(ReadOnly):
    """Admin actions run the service function with the acting user (``by=request.user``), one row at a
    time: a row refused (not allowed, or an error such as a skill disabled since) is reported, the
    others go on."""

    def act(self, request: HttpRequest, ids: Iterable[int], call: Callable[[int], Any]) -> list[Any]:
        done, refused = [], []
        for pk in ids:
            try:
                result = call(pk)
            except WeftError as exc:
                refused.append(f"{self.model._meta.verbose_name} {pk}: {exc}")
                continue
            if result:
                done.append(result)
        if refused:
            more = len(refused) - SHOWN_ERRORS
            self.message_user(request, _("Refused: %(why)s") % {
                "why": "; ".join(refused[:SHOWN_ERRORS]) + (f"; and {more} more" if more > 0 else "")},
                messages.ERROR)
        return done

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return service.may_cancel_others(request.user)


SHOWN_ERRORS = 10
EXPLAIN_LINES = 200


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
            return _pre("\n".join(lines))
        url = f"{reverse('admin:weft_decision_changelist')}?job__id__exact={obj.pk}"
        return format_html("{}<p>{} <a href=\"{}\">{}</a></p>", _pre("\n".join(lines[:EXPLAIN_LINES])),
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


@admin.register(Task)
class TaskAdmin(Acting):
    list_display = ("id", "job_id", "key", "skill_name", "status", "attempts", "worker", "waiting_for", "started_at",
                    "finished_at")
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


class OfVisibleJobs(ReadOnly):
    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return reports.visible_rows(request.user, super().get_queryset(request))


@admin.register(Attempt)
class AttemptAdmin(OfVisibleJobs):
    list_display = ("id", "task_id", "number", "outcome", "worker", "pid", "duration", "limit_hit", "error_type")
    list_filter = ("outcome", "limit_hit")
    search_fields = ("error_type", "error_message", "worker")
    readonly_fields = ("traceback_pre",)

    @admin.display(description=_("traceback"))
    def traceback_pre(self, obj: Attempt) -> str:
        return _pre(obj.traceback)


@admin.register(Decision)
class DecisionAdmin(OfVisibleJobs):
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
