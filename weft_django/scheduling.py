"""Graph work inside the engine's transactions: a new task's first state, release, skip, add tasks at run
time, finish parents, detect stuck jobs. Called from the engine and submission inside their
transactions; never opens one of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import F
from django.db.models.functions import Now

from . import dag, registry, transitions
from .exceptions import ValidationError
from .handoff import Ready
from .models import Decision, Dependency, Job, Task
from .spec import TaskSpec
from .states import AWAITING_APPROVAL, DecisionAction, TaskStatus


def initial_state(skill_name: str, *, waits: bool) -> dict[str, Any]:
    """A new task's status: pending behind its dependencies, else queued, or blocked awaiting approval."""
    if waits:
        return {"status": TaskStatus.PENDING, "blocked_reason": ""}
    if registry.requires_approval(skill_name):
        return {"status": TaskStatus.BLOCKED, "blocked_reason": AWAITING_APPROVAL}
    return {"status": TaskStatus.QUEUED, "blocked_reason": ""}


def record_awaiting_approval(job_id: int, tasks: Sequence[tuple[int, str]]) -> None:
    """The block decisions of tasks (id, skill name) that now wait for someone's approval."""
    Decision.objects.bulk_create([
        Decision(job_id=job_id, task_id=pk, action=DecisionAction.BLOCK, policy="approval.required",
                 reason=f"awaiting approval: skill {name!r} requires it", observation={})
        for pk, name in tasks])


def release_dependents(task_id: int) -> list[Ready]:
    """An upstream succeeded: count it off its dependents and queue those with nothing left to wait for
    (or, at their first readiness, hold those of skills that require approval)."""
    down = list(Dependency.objects.filter(upstream_id=task_id).values_list("downstream_id", flat=True))
    Task.objects.filter(pk__in=down).update(pending_deps=F("pending_deps") - 1)
    rows = list(Task.objects.filter(pk__in=down, pending_deps=0, status__in=(TaskStatus.PENDING, TaskStatus.BLOCKED))
                .values_list("pk", "queue", "priority", "attempts", "status", "skill_name", "job_id"))
    held = [(pk, skill, job) for pk, _, _, _, status, skill, job in rows
            if status == TaskStatus.PENDING and registry.requires_approval(skill)]
    if held:
        transitions.await_approval_many([pk for pk, _, _ in held])
        record_awaiting_approval(held[0][2], [(pk, skill) for pk, skill, _ in held])
    held_ids = {pk for pk, _, _ in held}
    ready = [(pk, queue, prio, attempts) for pk, queue, prio, attempts, *_ in rows if pk not in held_ids]
    transitions.queue_many([pk for pk, *_ in ready])
    return [Ready(pk, attempts, queue, prio) for pk, queue, prio, attempts in ready]


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
    # Lock the existing upstreams before reading whether they succeeded. An upstream finishing at this
    # moment releases its dependents from a snapshot without the edges inserted below; under READ
    # COMMITTED, this lock waits for its commit and then reads its final status, or it makes its
    # finishing wait for this commit, so that its release sees the new edges. Either way nothing is
    # left waiting for a release that already happened.
    ups = sorted({existing[u] for u, _ in edges if u in existing and u not in new_keys})
    succeeded = {key for key, status in Task.objects.filter(pk__in=ups).order_by("pk")
                 .select_for_update(no_key=True).values_list("key", "status") if status == TaskStatus.SUCCEEDED}
    waits = {k: sum(1 for u, d in edges if d == k and u not in succeeded) for k in new_keys}
    rows = [
        Task(job_id=job_id, parent_id=parent_id, key=key, **fields, pending_deps=waits[key],
             has_dependencies=any(d == key for _, d in edges), has_dependents=any(u == key for u, _ in edges),
             **state, dispatched_at=Now() if state["status"] == TaskStatus.QUEUED else None)
        for key, _, fields in keyed
        for state in [initial_state(fields["skill_name"], waits=bool(waits[key]))]
    ]
    Task.objects.bulk_create(rows, batch_size=1000)
    record_awaiting_approval(job_id, [(t.pk, t.skill_name) for t in rows if t.blocked_reason == AWAITING_APPROVAL])
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
    if Task.objects.filter(job_id=job_id, status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL).exists():
        return None  # a person will decide; the job's deadline, if it has one, still applies
    blocked = list(Task.objects.filter(job_id=job_id, status=TaskStatus.BLOCKED).values_list("key", "blocked_reason"))
    if not blocked and not Task.objects.filter(job_id=job_id).live().exists():
        return None
    parts = [f"{k!r} ({r or 'no reason given'})" for k, r in blocked] or ["dependencies that never finish"]
    return "stuck: nothing is runnable or running; blocked: " + ", ".join(parts)
