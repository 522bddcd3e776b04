"""Agents outside Celery (read-only but for the operator's switch, ``enabled``): their capabilities, when they
were last heard from, and the task they hold."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .. import service, units
from ..models import Agent
from .base import Checked


@admin.register(Agent)
class AgentAdmin(Checked):
    """Agents register themselves over HTTP (``weft_agent``); an operator may switch one off: it claims no more."""

    list_display = ("name", "labels", "heard", "task_link", "registered_by", "enabled")
    list_filter = ("enabled",)
    list_editable = ("enabled",)
    search_fields = ("name",)
    readonly_fields = ("name", "capabilities", "registered_by", "registered_at", "last_heartbeat", "current_task")

    @admin.display(description=_("capabilities"))
    def labels(self, obj: Agent) -> str:
        return ", ".join(obj.capabilities) or "-"

    @admin.display(description=_("last heartbeat"), ordering="last_heartbeat")
    def heard(self, obj: Agent) -> str:
        if obj.last_heartbeat is None:
            return str(_("never"))
        return units.ago((timezone.now() - obj.last_heartbeat).total_seconds())

    @admin.display(description=_("current task"))
    def task_link(self, obj: Agent) -> str:
        if obj.current_task_id is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("admin:weft_task_change", args=[obj.current_task_id]),
                           obj.current_task_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # an agent registers itself (POST agents/), as the user it acts as

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        service.agent_door.set_enabled(obj.pk, obj.enabled, by=request.user, via="admin")
