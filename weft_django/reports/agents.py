"""Agents outside Celery as the dashboard shows them, beside the workers: capabilities, last heartbeat, task."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .. import units
from ..models import Agent

SHOWN = 50


def agents() -> list[dict[str, Any]]:
    """The agents heard from last first (at most SHOWN), with how long ago as people read it."""
    now = timezone.now()
    rows: list[dict[str, Any]] = [dict(r) for r in Agent.objects.order_by("-last_heartbeat", "name").values(
        "pk", "name", "capabilities", "enabled", "last_heartbeat", "current_task_id")[:SHOWN]]
    for r in rows:
        beat = r["last_heartbeat"]
        r["heard"] = units.ago((now - beat).total_seconds()) if beat is not None else "never"
    return rows
