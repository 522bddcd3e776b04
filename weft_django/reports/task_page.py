"""The reads of a task's page in the admin: its attempts in human units, its decisions, and the tasks it
depends on, that depend on it, and that it made (each list bounded, with how many there are)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from .. import layout, units
from ..models import Attempt, Decision, Dependency, Task

LINKED = 100  # tasks listed per relation (a fan-out of 10,000 lists the first ones and says how many)
DECISIONS = 200


def task_page(task: Task) -> dict[str, Any]:
    """``attempts`` (newest last; a traceback equal to the one before is named, not repeated),
    ``decisions``, ``upstream``, ``downstream``, ``children`` (each ``{"rows", "total"}``) and ``parent``."""
    up = Task.objects.filter(pk__in=Dependency.objects.filter(downstream_id=task.pk).values("upstream_id"))
    down = Task.objects.filter(pk__in=Dependency.objects.filter(upstream_id=task.pk).values("downstream_id"))
    children = Task.objects.filter(parent_id=task.pk)
    parent = (Task.objects.filter(pk=task.parent_id).values("pk", "key", "skill_name", "status").first()
              if task.parent_id else None)
    decisions = list(Decision.objects.filter(task_id=task.pk).order_by("pk")
                     .values("pk", "action", "policy", "reason", "created_at", "attempt__number")[:DECISIONS + 1])
    return {
        "attempts": attempts(task.pk), "decisions": decisions[:DECISIONS], "more_decisions": len(decisions) > DECISIONS,
        "upstream": _linked(up, task.has_dependencies), "downstream": _linked(down, task.has_dependents),
        "children": _linked(children, True), "parent": parent, "weft_colours": layout.COLOURS,
    }


def _linked(tasks: QuerySet[Task], maybe: bool) -> dict[str, Any]:
    """The first LINKED of ``tasks`` and how many there are (``maybe``: False when the task's own flag says
    there are none, and no query is made)."""
    if not maybe:
        return {"rows": [], "total": 0}
    rows = list(tasks.order_by("pk").values("pk", "key", "skill_name", "status")[:LINKED + 1])
    total = len(rows) if len(rows) <= LINKED else tasks.count()
    return {"rows": rows[:LINKED], "total": total}


def attempts(task_id: int) -> list[dict[str, Any]]:
    """A task's attempts as a person reads them: duration, memory, CPU and cost in units, the exit code by
    signal name, the error in one line; the traceback once (``same_traceback_as``: the number of the
    attempt before with the same one)."""
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for a in Attempt.objects.filter(task_id=task_id).order_by("number"):
        error = f"{a.error_type}: {a.error_message}" if a.error_type else a.error_message
        tb = a.traceback.strip()
        out.append({
            "id": a.pk, "number": a.number, "outcome": a.outcome, "worker": a.worker, "pid": a.pid,
            "started_at": a.started_at, "finished_at": a.finished_at,
            "started_ago": units.ago((timezone.now() - a.started_at).total_seconds()),
            "duration": units.seconds(a.duration), "exit": units.exit_code(a.exit_code), "limit_hit": a.limit_hit,
            "error": error, "traceback": "" if tb in seen else tb, "same_traceback_as": seen.get(tb) if tb else None,
            "stdout": a.stdout, "stderr": a.stderr, "memory": units.megabytes(a.peak_rss_mb),
            "cpu": units.seconds(a.cpu_seconds), "cost": units.cost(a.cost) if a.cost else "",
            "open_files": a.peak_open_files,
        })
        if tb:
            seen.setdefault(tb, a.number)
    return out
