"""New task rows and their dependency edges, at submission and at run time (children, needs).

``add_tasks`` is the ORM version for tasks added while a job runs; ``insert_tasks`` and
``insert_dependencies`` are the single-statement PostgreSQL versions submission uses for a whole job.
Runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import F
from django.db.models.functions import Now

from .. import dag, options, registry
from ..exceptions import InvalidInput
from ..models import Dependency, Job, Task
from ..spec import TaskSpec
from ..states import AWAITING_APPROVAL, TaskStatus
from . import ledger, pg


def initial_state(skill_name: str, *, waits: bool) -> dict[str, Any]:
    """A new task's status: pending behind its dependencies, else queued, or blocked awaiting approval."""
    if waits:
        return {"status": TaskStatus.PENDING, "blocked_reason": ""}
    if registry.requires_approval(skill_name):
        return {"status": TaskStatus.BLOCKED, "blocked_reason": AWAITING_APPROVAL}
    return {"status": TaskStatus.QUEUED, "blocked_reason": ""}


KEY_MAX = Task._meta.get_field("key").max_length or 200


def check_new_keys(job_id: int, keys: Sequence[str], field: str) -> None:
    """Raise InvalidInput naming the first new task key the job cannot take: too long, given twice or taken."""
    seen: set[str] = set()
    for key in keys:
        if len(key) > KEY_MAX:
            raise InvalidInput(field, f"task key {key!r} has {len(key)} characters, more than {KEY_MAX}")
        if key in seen:
            raise InvalidInput(field, f"task key {key!r} is given twice")
        seen.add(key)
    taken = Task.objects.filter(job_id=job_id, key__in=keys).values_list("key", flat=True).first()
    if taken is not None:
        raise InvalidInput(field, f"task key {taken!r} already exists in the job")


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
    ledger.awaiting_approval(job_id, [(t.pk, t.skill_name) for t in rows if t.blocked_reason == AWAITING_APPROVAL])
    ids = {**existing, **{t.key: t.pk for t in rows}}
    Dependency.objects.bulk_create([Dependency(upstream_id=ids[u], downstream_id=ids[d]) for u, d in edges],
                                   batch_size=2000)
    Task.objects.filter(pk__in=[ids[u] for u, _ in edges if u not in new_keys]).update(has_dependents=True)
    n = len(rows)
    Job.objects.filter(pk=job_id).update(tasks_total=F("tasks_total") + n, tasks_open=F("tasks_open") + n)
    return rows


def check_acyclic(job_id: int, new_edges: dict[str, list[str]]) -> None:
    """Raise InvalidInput spelling out the cycle if adding ``new_edges`` to the job's graph makes one."""
    graph = job_edges(job_id)
    for key, ups in new_edges.items():
        graph.setdefault(key, []).extend(ups)
    for ups in list(graph.values()):
        for u in ups:
            graph.setdefault(u, [])
    cycle = dag.find_cycle(graph)
    if cycle is not None:
        raise InvalidInput("needs", "dependency cycle: " + " -> ".join(cycle))


# The options' columns (options.py), each sent as one array: jsonb ones as text, cast row by row.
ARRAY_TYPES = {c: "text" if t == "jsonb" else t for c, t in options.SQL_TYPES.items()}
_UNIFORM = {"float8": float, "int": int}  # psycopg refuses an array mixing 30 and 3600.0

INSERT_TASKS = f"""
INSERT INTO weft_task (job_id, key, skill_name, skill_version, params, {", ".join(options.COLUMNS)},
                       gates, governed, status, attempts, pending_deps, has_dependents, has_dependencies,
                       dispatched_at, worker, cancel_requested, blocked_reason, waiting_for, error, created_at)
SELECT %(job)s, k, sn, sv, p::jsonb, {", ".join(f"o_{c}::{t}" for c, t in options.SQL_TYPES.items())},
       g::jsonb, gov, st, 0, pd, hd, hdeps, CASE WHEN st = 'queued' THEN now() END, '', false, br, '', '', now()
FROM unnest(%(keys)s::text[], %(skills)s::text[], %(versions)s::text[], %(params)s::text[],
            {", ".join(f"%(o_{c})s::{t}[]" for c, t in ARRAY_TYPES.items())},
            %(gates)s::text[], %(governed)s::bool[],
            %(states)s::text[], %(pending)s::int[], %(dependents)s::bool[], %(dependencies)s::bool[],
            %(blocked)s::text[])
     AS x(k, sn, sv, p, {", ".join(f"o_{c}" for c in options.COLUMNS)}, g, gov, st, pd, hd, hdeps, br)
RETURNING key, id
"""


def option_value(column: str, value: Any) -> Any:
    """An option's value as the fast versions send it: JSON text for jsonb, numbers of the column's type."""
    sql_type = options.SQL_TYPES[column]
    if sql_type == "jsonb":
        return pg.dumps(value)
    return value if value is None or sql_type not in _UNIFORM else _UNIFORM[sql_type](value)


def insert_tasks(job_id: int, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert a job's tasks in one statement (arrays, not one VALUES tuple per row); returns key -> id."""
    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    params: dict[str, Any] = {
        "job": job_id, "keys": col("key"), "skills": col("skill_name"), "versions": col("skill_version"),
        "params": [pg.dumps(r["params"]) for r in rows],
        **{f"o_{c}": [option_value(c, r[c]) for r in rows] for c in options.COLUMNS},
        "gates": [pg.dumps(r["gates"]) for r in rows], "governed": col("governed"),
        "states": [str(s) for s in col("status")], "pending": col("pending_deps"),
        "dependents": col("has_dependents"), "dependencies": col("has_dependencies"),
        "blocked": [r.get("blocked_reason", "") for r in rows],
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_TASKS, params)
        return dict(cursor.fetchall())


def insert_dependencies(pairs: list[tuple[int, int]]) -> None:
    """Insert (upstream, downstream) edges in one statement."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO weft_dependency (upstream_id, downstream_id) "
                       "SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
                       [[u for u, _ in pairs], [d for _, d in pairs]])
