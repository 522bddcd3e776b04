"""Graph work inside the engine's transactions: release, skip, add tasks at run time, finish parents,
detect stuck jobs. Called only from engine.py; never opens a transaction of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import F
from django.db.models.functions import Now

from . import dag, transitions
from .dispatch import Ready
from .exceptions import ValidationError
from .models import Dependency, Job, Task
from .spec import TaskSpec
from .states import TaskStatus


def release_dependents(task_id: int) -> list[Ready]:
    """An upstream succeeded: count it off its dependents and queue those with nothing left to wait for."""
    down = list(Dependency.objects.filter(upstream_id=task_id).values_list("downstream_id", flat=True))
    Task.objects.filter(pk__in=down).update(pending_deps=F("pending_deps") - 1)
    rows = list(Task.objects.filter(pk__in=down, pending_deps=0, status__in=(TaskStatus.PENDING, TaskStatus.BLOCKED))
                .values_list("pk", "queue", "priority", "attempts"))
    transitions.queue_many([pk for pk, *_ in rows])
    return [Ready(pk, attempts, queue, prio) for pk, queue, prio, attempts in rows]


def downstream_to_skip(task_id: int) -> list[tuple[int, int, str, int | None]]:
    """Every pending/blocked task downstream of ``task_id``, as (upstream, task, key, parent), nearest first."""
    out = []
    seen = {task_id}
    frontier = [task_id]
    while frontier:
        edges = list(Dependency.objects.filter(upstream_id__in=frontier, downstream__status__in=(
            TaskStatus.PENDING, TaskStatus.BLOCKED)).values_list(
            "upstream_id", "downstream_id", "downstream__key", "downstream__parent_id"))
        frontier = []
        for up, down, key, parent in edges:
            if down not in seen:
                seen.add(down)
                out.append((up, down, key, parent))
                frontier.append(down)
    return out


def job_edges(job_id: int) -> dict[str, list[str]]:
    """The job's dependency graph by key (downstream -> its upstreams)."""
    edges: dict[str, list[str]] = {k: [] for k in Task.objects.filter(job_id=job_id).values_list("key", flat=True)}
    for down, up in Dependency.objects.filter(downstream__job_id=job_id).values_list("downstream__key",
                                                                                      "upstream__key"):
        edges[down].append(up)
    return edges


def add_tasks(job_id: int, parent_id: int | None, keyed: Sequence[tuple[str, TaskSpec, dict[str, Any]]],
              extra_edges: Sequence[tuple[str, str]] = ()) -> list[Task]:
    """Create tasks at run time (children or needs). ``keyed``: (job-wide key, spec, resolved fields).

    Dependencies are the specs' ``depends_on`` (job-wide keys) plus ``extra_edges`` (upstream, downstream),
    which may point at existing tasks. The caller has checked the graph for cycles.
    """
    new_keys = {k for k, _, _ in keyed}
    edges = [(d, k) for k, spec, _ in keyed for d in spec.depends_on] + list(extra_edges)
    existing = dict(Task.objects.filter(job_id=job_id, key__in={u for u, _ in edges} | {d for _, d in edges})
                    .values_list("key", "pk"))
    succeeded = set(Task.objects.filter(pk__in=existing.values(), status=TaskStatus.SUCCEEDED)
                    .values_list("key", flat=True))
    waits = {k: sum(1 for u, d in edges if d == k and u not in succeeded) for k in new_keys}
    rows = [
        Task(job_id=job_id, parent_id=parent_id, key=key, **fields, pending_deps=waits[key],
             has_dependencies=any(d == key for _, d in edges), has_dependents=any(u == key for u, _ in edges),
             status=TaskStatus.PENDING if waits[key] else TaskStatus.QUEUED,
             dispatched_at=None if waits[key] else Now())
        for key, _, fields in keyed
    ]
    Task.objects.bulk_create(rows, batch_size=1000)
    ids = {**existing, **{t.key: t.pk for t in rows}}
    Dependency.objects.bulk_create([Dependency(upstream_id=ids[u], downstream_id=ids[d]) for u, d in edges],
                                   batch_size=2000)
    Task.objects.filter(pk__in=[ids[u] for u, _ in edges if u not in new_keys]).update(has_dependents=True)
    n = len(rows)
    Job.objects.filter(pk=job_id).update(tasks_total=F("tasks_total") + n, tasks_open=F("tasks_open") + n)
    return rows


def check_acyclic(job_id: int, new_edges: dict[str, list[str]]) -> None:
    """Raise ValidationError spelling out the cycle if adding ``new_edges`` to the job's graph makes one."""
    graph = job_edges(job_id)
    for key, ups in new_edges.items():
        graph.setdefault(key, []).extend(ups)
    for ups in list(graph.values()):
        for u in ups:
            graph.setdefault(u, [])
    cycle = dag.find_cycle(graph)
    if cycle is not None:
        raise ValidationError("needs", "dependency cycle: " + " -> ".join(cycle))


def stuck_report(job_id: int) -> str | None:
    """If nothing can run or is running while tasks remain, say which tasks block and why."""
    Job.objects.select_for_update().filter(pk=job_id).values_list("pk").first()  # order concurrent checks
    if Task.objects.filter(job_id=job_id, status__in=(TaskStatus.QUEUED, TaskStatus.RUNNING)).exists():
        return None
    blocked = list(Task.objects.filter(job_id=job_id, status=TaskStatus.BLOCKED).values_list("key", "blocked_reason"))
    if not blocked and not Task.objects.filter(job_id=job_id).live().exists():
        return None
    parts = [f"{k!r} ({r or 'no reason given'})" for k, r in blocked] or ["dependencies that never finish"]
    return "stuck: nothing is runnable or running; blocked: " + ", ".join(parts)
