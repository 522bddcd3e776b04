"""Workers (read-only), skills (the operator's switch: enabled), loops' iterations (read-only) and
notification subscriptions (editable)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .. import service
from ..models import Iteration, Skill, Subscription, Worker
from .base import OfVisibleJobs, ReadOnly


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

    def save_model(self, request: HttpRequest, obj: Skill, form: Any, change: bool) -> None:
        # Only ``enabled`` is editable: switched through the service, which records who did it.
        service.set_skill_enabled(obj.pk, obj.enabled, by=request.user, via="admin")


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Who is told about which job and task events (notifications.py): a signed webhook or an e-mail, delivered
    by weft tasks of the skill ``weft.notify``."""

    list_display = ("name", "target", "enabled", "created_at")
    list_filter = ("enabled",)
    search_fields = ("name", "target")
