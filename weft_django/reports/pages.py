"""The reads of a job's page in the admin: its cause and counts, a page of its tasks, its graph and its
timeline of attempts. Each is a bounded number of indexed queries whatever the job's size (a job of 10,000
tasks draws its graph summarised by skill, and the timeline of its first tasks)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import Count, Min
from django.utils import timezone

from .. import layout, units
from ..models import Attempt, Dependency, Job, Task
from ..states import TaskStatus
from .explain import cause
from .jobs import task_page

TASKS_PER_PAGE = 50
GRAPH_TASKS = 200  # beyond this, the graph shows one node per skill
TIMELINE_TASKS = 60  # rows of the timeline: the tasks that started first
ERROR_SHOWN = 160  # characters of an error in a list


def job_page(job: Job, after: int | None = None) -> dict[str, Any]:
    """What the job's page shows above its details: ``cause``, ``counts`` (state, n), ``tasks`` (a page
    after task id ``after``, with ``next_after``), ``graph`` and ``timeline``."""
    counts = dict(Task.objects.filter(job_id=job.pk).values_list("status").annotate(n=Count("pk")).order_by())
    rows, next_after = task_page(Task.objects.filter(job_id=job.pk), TASKS_PER_PAGE, after or 0,
                                 "key", "skill_name", "status", "attempts", "error", "started_at", "finished_at",
                                 "parent_id")
    return {
        "cause": cause(job),
        "counts": [(s, counts[s]) for s in TaskStatus.values if counts.get(s)],
        "tasks": [task_row(*r) for r in rows], "after": after or 0, "next_after": next_after,
        "per_page": TASKS_PER_PAGE, "weft_colours": layout.COLOURS,
        **job_graph(job.pk, sum(counts.values())), **job_timeline(job.pk),
    }


def task_row(pk: int, key: str, skill: str, status: str, attempts: int, error: str, started: datetime | None,
             finished: datetime | None, parent: int | None) -> dict[str, Any]:
    """A task as a list shows it: its duration in words, its error cut short."""
    took = (finished - started).total_seconds() if started and finished else None
    return {"id": pk, "key": key, "skill": skill, "status": status, "attempts": attempts,
            "error": short(error), "started_at": started, "finished_at": finished,
            "started_ago": units.ago((timezone.now() - started).total_seconds()) if started else "",
            "duration": units.seconds(took), "parent": parent}


def short(text: str, limit: int = ERROR_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def job_graph(job_id: int, total: int) -> dict[str, Any]:
    """``graph``: a drawing of the job's tasks (nodes coloured by state, edges for dependencies and
    parent -> child), or of its skills when it has more than GRAPH_TASKS tasks (``graph_summary``)."""
    if total > GRAPH_TASKS:
        return {"graph": _skills_graph(job_id), "graph_summary": True,
                "legend": [(st, layout.COLOURS[st]) for st in TaskStatus.values]}
    tasks = list(Task.objects.filter(job_id=job_id).order_by("pk")
                 .values_list("pk", "key", "skill_name", "status", "parent_id"))
    nodes = [(pk, {"id": pk, "key": short(key, 22), "title": key, "skill": short(skill, 24), "status": status})
             for pk, key, skill, status, _ in tasks]
    edges = [(up, down, "dependency") for up, down in Dependency.objects.filter(downstream__job_id=job_id)
             .order_by("pk").values_list("upstream_id", "downstream_id")]
    edges += [(parent, pk, "child") for pk, *_, parent in tasks if parent is not None]
    return {"graph": layout.graph(nodes, edges), "graph_summary": False}


def _skills_graph(job_id: int) -> layout.Drawing:
    """One node per skill, with how many of its tasks are in each state; an edge where a task of one skill
    depends on (or was made by) a task of another."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for skill, status, n in (Task.objects.filter(job_id=job_id).values_list("skill_name", "status")
                             .annotate(n=Count("pk")).order_by()):
        counts[skill][status] = n
    biggest = sorted(counts, key=lambda s: (-sum(counts[s].values()), s))[:GRAPH_TASKS]
    nodes = [(s, {"skill": short(s, 24), "title": s, "total": sum(counts[s].values()),
                  "segments": segments(counts[s], layout.NODE_W - 12)}) for s in biggest]
    deps = (Dependency.objects.filter(downstream__job_id=job_id)
            .values_list("upstream__skill_name", "downstream__skill_name").distinct().order_by())
    made = (Task.objects.filter(job_id=job_id, parent__isnull=False)
            .values_list("parent__skill_name", "skill_name").distinct().order_by())
    edges = [(a, b, "dependency") for a, b in deps if a != b] + [(a, b, "child") for a, b in made if a != b]
    return layout.graph(nodes, edges)


def segments(counts: dict[str, int], width: int, x0: float = 6.0) -> list[tuple[float, float, str, int]]:
    """A stacked bar of ``counts`` (state -> n) ``width`` px wide from ``x0``: ``(x, w, state, n)`` in
    TaskStatus order."""
    total = sum(counts.values()) or 1
    out, x = [], x0
    for s in TaskStatus.values:
        if counts.get(s):
            w = round(width * counts[s] / total, 1)
            out.append((round(x, 1), w, s, counts[s]))
            x += w
    return out


def job_timeline(job_id: int) -> dict[str, Any]:
    """``timeline``: one row per task (the first TIMELINE_TASKS to start), one bar per attempt coloured by
    outcome (a retry on the same row as the attempt before it; a lost attempt, recovered by the sweep,
    marked); ``timeline_tasks``: how many tasks have attempts at all; ``outcomes``: the legend."""
    firsts = (Attempt.objects.filter(job_id=job_id).values("task_id").annotate(first=Min("started_at"))
              .order_by("first", "task_id"))
    ids = [r["task_id"] for r in firsts[:TIMELINE_TASKS]]
    started = firsts.count() if len(ids) == TIMELINE_TASKS else len(ids)
    by_task: dict[int, list[tuple[float, float | None, dict[str, Any]]]] = {pk: [] for pk in ids}
    keys: dict[int, str] = {}
    outcomes: set[str] = set()
    for a in (Attempt.objects.filter(task_id__in=ids).order_by("task_id", "number")
              .values("task_id", "task__key", "number", "outcome", "started_at", "finished_at", "duration",
                      "error_type", "limit_hit", "worker")):
        keys[a["task_id"]] = a["task__key"]
        outcomes.add(a["outcome"])
        end = a["finished_at"].timestamp() if a["finished_at"] else None
        took = a["duration"] if a["duration"] is not None else (
            (a["finished_at"] - a["started_at"]).total_seconds() if a["finished_at"] else None)
        title = (f"{a['task__key']} attempt {a['number']}: {a['outcome'].replace('_', ' ')}"
                 + (f" after {units.seconds(took)}" if took is not None else " (running)")
                 + (f", {a['error_type']}" if a["error_type"] else "")
                 + (f", limit {a['limit_hit']}" if a["limit_hit"] else "")
                 + (f", on {a['worker']}" if a["worker"] else ""))
        by_task[a["task_id"]].append((a["started_at"].timestamp(), end,
                                      {"outcome": a["outcome"], "number": a["number"], "title": title,
                                       "task": a["task_id"]}))
    rows = [({"id": pk, "key": short(keys.get(pk, str(pk)), 24), "retries": len(by_task[pk]) - 1}, by_task[pk])
            for pk in ids]
    return {"timeline": layout.timeline(rows, now=timezone.now().timestamp()) if ids else None,
            "timeline_tasks": started, "timeline_shown": len(ids),
            "outcomes": sorted(outcomes)}
