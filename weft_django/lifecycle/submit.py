"""Submit: validate a job's task specs against their skills and the ceilings, then write the job and its
tasks in one transaction and hand the ready ones to dispatch after commit.

``_submit_fast`` writes a lone task's job as one PostgreSQL statement; rows.py has the multi-row versions.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models.functions import Now

from .. import dag, grouping, options, registry, signals, skill_choice, skill_limits
from ..conf import settings
from ..exceptions import InvalidInput, SkillDisabled
from ..handoff import Ready
from ..jobspec import JobSpec, check_deadline, check_job_fields
from ..models import Dependency, Job, Task
from ..resolve import resolve
from ..spec import TaskSpec
from ..states import AWAITING_APPROVAL, JobStatus, TaskStatus
from . import admission, idempotency, ledger, pg, policing, rows


@dataclass(frozen=True)
class JobOptions:
    name: str = ""
    owner: Any = None
    idempotency_key: str | None = None
    labels: Mapping[str, Any] | None = None
    max_attempts: int | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    deadline: datetime | None = None
    not_before: datetime | None = None  # the ready tasks wait until then (Django's Tasks framework's run_after)


def check_job_options(o: JobOptions) -> None:
    check_job_fields(name=o.name, labels=o.labels, idempotency_key=o.idempotency_key, max_attempts=o.max_attempts,
                     max_cost=o.max_cost, max_tokens=o.max_tokens)
    if o.not_before is not None and (not isinstance(o.not_before, datetime) or o.not_before.tzinfo is None):
        raise InvalidInput("run_after", f"must be a datetime with a zone, got {o.not_before!r}")
    if o.deadline is not None:
        check_deadline(o.deadline, datetime.now(UTC), settings.MAX_DEADLINE_DAYS)


def create_job(specs: Sequence[TaskSpec], options: JobOptions, *, name_tasks: bool = True) -> Job:
    """Validate everything first, then write the job and its tasks in one transaction; dispatch on commit.

    Errors name fields as ``tasks[i].field``; ``name_tasks=False`` (a lone ``submit()``) drops the prefix.
    """
    check_job_options(options)
    keyed = [(s.key or (s.skill if len(specs) == 1 else f"task-{i}"), s) for i, s in enumerate(specs)]
    if not keyed:
        raise InvalidInput("tasks", "a job needs at least one task")
    edges: dict[str, tuple[str, ...]] = {}
    for i, (key, spec) in enumerate(keyed):
        if key in edges:
            raise InvalidInput(f"tasks[{i}].key", f"duplicate task key {key!r}")
        edges[key] = spec.depends_on
    dag.check_graph(edges)
    paths = [f"tasks[{i}]" if name_tasks else "" for i in range(len(keyed))]
    # Built-in policies refuse inside (ceilings, bounds, the enabled switch): recorded, then raised.
    overrides = skill_limits.row_overrides()
    with policing.recording(options.owner, [spec.skill for _, spec in keyed]):
        chosen = skill_choice.choose([(path, spec.skill, spec.version) for path, (_, spec) in zip(paths, keyed,
                                                                                                  strict=True)])
        fields = [resolve(spec, path, overrides, d) for path, (_, spec), d in zip(paths, keyed, chosen, strict=True)]
        governed = policing.govern(fields, paths, options)  # the rules: refuse, or change what is written
        fields, options = governed.fields, governed.options
        if len(keyed) == 1 and lone_statement(fields[0], options, governed):
            return _insert_lone_task(keyed[0][0], fields[0], options, "tasks[0].skill" if name_tasks else "skill")
        skill_choice.check_enabled(list(zip(paths, chosen, strict=True)))
    if options.idempotency_key:
        existing = idempotency.keyed_job(options)
        if existing is not None:
            return idempotency.resubmitted(existing, paths, keyed, fields, edges, options)
    try:
        with transaction.atomic():
            return insert_job(keyed, fields, edges, options, governed)
    except IntegrityError:
        existing = idempotency.keyed_job(options) if options.idempotency_key else None
        if existing is not None:  # a concurrent submit with the same key won the race
            return idempotency.resubmitted(existing, paths, keyed, fields, edges, options)
        raise


def lone_statement(fields: Mapping[str, Any], o: JobOptions, governed: policing.Governed) -> bool:
    """Whether a one-task job can be written by the fast statement (SUBMIT; bulk.SUBMIT_MANY): nothing the
    ORM path alone handles (a key, a budget, a deadline, a delay, an approval, a rule's change, a rate)."""
    budgeted = (o.max_attempts, o.max_cost, o.max_tokens, o.deadline, o.not_before)
    return (not o.idempotency_key and budgeted == (None,) * 5 and pg.enabled()
            and not registry.requires_approval(fields["skill_name"]) and not governed.touched
            and not fields["gates"].get("rate"))


def _insert_lone_task(key: str, fields: dict[str, Any], o: JobOptions, skill_field: str) -> Job:
    owner_id = getattr(o.owner, "pk", None)
    row = _submit_fast(key, fields, name=o.name, owner_id=owner_id, labels=dict(o.labels or {}))
    if row is None:  # the statement checks the skill's enabled flag itself: no extra round trip
        raise SkillDisabled(fields["skill_name"], skill_field)
    job_id, task_id, created_at = row
    delivery = grouping.after_commit([Ready(task_id, 0, fields["queue"], fields["priority"])])
    signals.send_on_commit(signals.job_submitted, job_id=job_id)
    job = lone_job(job_id, owner_id, o.name, o.labels, created_at)
    job.delivery = delivery
    return job


def lone_job(job_id: int, owner_id: int | None, name: str, labels: Mapping[str, Any] | None, created_at: Any) -> Job:
    """A one-task job's row as the fast statements just inserted it, built the way a query would build it
    (positional from_db is a third of the cost of keyword construction, which shows at thousands a second)."""
    return Job.from_db(DEFAULT_DB_ALIAS, _job_fields(), (
        job_id, owner_id, name, JobStatus.RUNNING, "", None, dict(labels or {}), None, None, None, None, 0.0, 0,
        1, 1, 0, created_at, None))


@functools.cache
def _job_fields() -> list[str]:
    names = [f.attname for f in Job._meta.concrete_fields]
    assert names == ["id", "owner_id", "name", "status", "stop_reason", "idempotency_key", "labels", "max_attempts",
                     "max_cost", "max_tokens", "deadline", "cost", "tokens", "tasks_total", "tasks_open",
                     "tasks_failed", "created_at", "finished_at"], names  # the tuple in lone_job follows it
    return names


def insert_job(keyed: list[tuple[str, TaskSpec]], fields: list[dict[str, Any]],
                edges: dict[str, tuple[str, ...]], o: JobOptions, governed: policing.Governed) -> Job:
    job = Job.objects.create(
        name=o.name, owner=o.owner, idempotency_key=o.idempotency_key or None, labels=dict(o.labels or {}),
        max_attempts=o.max_attempts, max_cost=o.max_cost, max_tokens=o.max_tokens, deadline=o.deadline,
        tasks_total=len(keyed), tasks_open=len(keyed),
    )
    upstream_keys = {d for deps in edges.values() for d in deps}
    new = [{**f, "key": key, "pending_deps": len(edges[key]), "has_dependents": key in upstream_keys,
            "has_dependencies": bool(edges[key]), **rows.initial_state(f["skill_name"], waits=bool(edges[key]))}
           for (key, _), f in zip(keyed, fields, strict=True)]
    for i in governed.held:  # a policy requires approval: a ready task waits for it now, a pending one later
        if new[i]["status"] == TaskStatus.QUEUED:
            new[i].update(status=TaskStatus.BLOCKED, blocked_reason=AWAITING_APPROVAL)
    rated = [r for r in new if r["status"] == TaskStatus.QUEUED and r["gates"].get("rate")]
    if rated:  # their moments under their rate limits, taken now (admission.py)
        admission.reserve(rated)
    if len(new) > 1 and pg.enabled() and not rated and o.not_before is None:
        ids = rows.insert_tasks(job.pk, new)
    else:  # a deferred task is due, and looks dispatched to the sweep, at not_before (as a retry's backoff)
        due = {"dispatched_at": o.not_before or Now(), **({"not_before": o.not_before} if o.not_before else {})}
        tasks = [Task(job=job, **{**(due if r["status"] == TaskStatus.QUEUED else {"dispatched_at": None}), **r})
                 for r in new]
        Task.objects.bulk_create(tasks, batch_size=1000)
        ids = {t.key: t.pk for t in tasks}
    if upstream_keys:
        pairs = [(ids[d], ids[k]) for k, deps in edges.items() for d in deps]
        if pg.enabled():
            rows.insert_dependencies(pairs)
        else:
            Dependency.objects.bulk_create([Dependency(upstream_id=u, downstream_id=d) for u, d in pairs],
                                           batch_size=2000)
    governed.record(job.pk, [ids[key] for key, _ in keyed])
    ledger.awaiting_approval(job.pk, [(ids[r["key"]], r["skill_name"]) for r in new
                                      if r["blocked_reason"] == AWAITING_APPROVAL])
    now = admission.db_now() if rated else None
    ledger.rate_deferred(job.pk, [(ids[r["key"]], r["waiting_for"], r["gates"]["rate"]) for r in rated
                                  if r.get("waiting_for")])
    wait = max(0.0, (o.not_before - datetime.now(UTC)).total_seconds()) if o.not_before else 0.0
    job.delivery = grouping.after_commit([Ready(ids[r["key"]], 0, r["queue"], r["priority"],
                                       max(wait, admission.countdown(r, now) if now is not None else 0.0))
                                 for r in new if r["status"] == TaskStatus.QUEUED])
    signals.send_on_commit(signals.job_submitted, job_id=job.pk)
    return job


def submit_job(spec: JobSpec, owner: Any = None, not_before: datetime | None = None) -> Job:
    """Create a job from a validated JobSpec (same idempotency key, same job); its ready tasks wait until
    ``not_before``, if given."""
    budget = {b: getattr(spec, b) for b in ("max_attempts", "max_cost", "max_tokens", "deadline")}
    return create_job(spec.tasks, JobOptions(name=spec.name, owner=owner, idempotency_key=spec.idempotency_key,
                                             labels=spec.labels, not_before=not_before, **budget))


SUBMIT = f"""
WITH j AS (
    INSERT INTO weft_job (owner_id, name, status, stop_reason, idempotency_key, labels, cost, tokens,
                          tasks_total, tasks_open, tasks_failed, created_at)
    SELECT %(owner)s, %(name)s, 'running', '', NULL, %(labels)s::jsonb, 0, 0, 1, 1, 0, now()
    WHERE NOT EXISTS (SELECT 1 FROM weft_skill
                      WHERE name = %(skill_name)s AND version = %(skill_version)s AND NOT enabled)
    RETURNING id, created_at
)
INSERT INTO weft_task (job_id, key, skill_name, skill_version, params, {", ".join(options.COLUMNS)},
                       gates, governed, status, attempts, pending_deps, has_dependents, has_dependencies,
                       dispatched_at, worker, cancel_requested, blocked_reason, waiting_for, error, created_at)
SELECT j.id, %(key)s, %(skill_name)s, %(skill_version)s, %(params)s::jsonb,
       {", ".join(f"%({c})s::{t}" for c, t in options.SQL_TYPES.items())},
       %(gates)s::jsonb, %(governed)s, 'queued', 0, 0, false, false, now(), '', false, '', '', '', now()
FROM j
RETURNING job_id, id, (SELECT created_at FROM j)
"""


def _submit_fast(key: str, fields: dict[str, Any], *, name: str, owner_id: int | None,
                 labels: dict[str, Any]) -> tuple[int, int, Any] | None:
    """Insert a job with one queued task; returns (job id, task id, created_at), or None (and writes
    nothing) if an operator disabled the skill."""
    params = {"key": key, "name": name, "owner": owner_id, "labels": pg.dumps(labels),
              "skill_name": fields["skill_name"], "skill_version": fields["skill_version"],
              "params": pg.dumps(fields["params"]), **{c: rows.option_value(c, fields[c]) for c in options.COLUMNS},
              "gates": pg.dumps(fields["gates"]), "governed": fields["governed"]}
    row = pg.fetchone(SUBMIT, params)
    return None if row is None else (row[0], row[1], row[2])
