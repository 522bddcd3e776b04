"""Lists for the commands and the admin: the newest jobs, the registered skills, a user by login, and the
ids of rows an operator picked."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet

from .. import registry
from ..models import Job
from ..registry import SkillDef

_M = TypeVar("_M", bound=Model)


def newest_jobs(status: str | None = None, owner: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` jobs (of ``status``, of the user whose login is ``owner``), as ``weft_list``
    prints them: state, tasks done of total, owner's login, when."""
    # A user model names its login field (USERNAME_FIELD): a custom one may have no "username" (email, say).
    name = f"owner__{get_user_model().USERNAME_FIELD}"
    rows = Job.objects.order_by("-pk")
    if status:
        rows = rows.filter(status=status)
    if owner:
        rows = rows.filter(**{name: owner})
    return [{
        "id": j["pk"], "name": j["name"], "status": j["status"], "stop_reason": j["stop_reason"],
        "done": j["tasks_total"] - max(j["tasks_open"], 0), "total": j["tasks_total"], "owner": j[name],
        "created_at": j["created_at"].isoformat(),
        "finished_at": j["finished_at"].isoformat() if j["finished_at"] else None,
    } for j in rows.values("pk", "name", "status", "stop_reason", "tasks_total", "tasks_open", name,
                           "created_at", "finished_at")[:limit]]


def skills() -> list[SkillDef]:
    """Every skill registered in code."""
    return list(registry.all_skills())


def user_named(username: str) -> Any:
    """The user whose login is ``username`` (the user model's natural key); None if there is none."""
    model = get_user_model()
    try:
        return model._default_manager.get_by_natural_key(username)
    except model.DoesNotExist:
        return None


def ids(rows: QuerySet[Any]) -> list[int]:
    """The ids of ``rows`` (an admin's selection), in id order."""
    return list(rows.order_by("pk").values_list("pk", flat=True))


def first(rows: QuerySet[_M], n: int) -> QuerySet[_M]:
    """The first ``n`` of ``rows`` in id order, as one sliced queryset (read once, however often iterated)."""
    return rows.order_by("pk")[:n]
