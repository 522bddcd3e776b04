"""The engine: every transaction that changes weft's state, composing transitions with the deciders.

The admin, the API, the commands and the Celery tasks all call these functions. Nothing here imports
Celery: ready work is handed to dispatch.py after commit.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now

from . import dag, fastpath, registry, scheduling, signals, transitions
from .conf import settings
from .deciders import DEFAULT_LIMIT_POLICY, Budget, Choice, Failure, decide_failure
from .dispatch import Ready, after_commit
from .exceptions import NotFound, ValidationError, WeftError
from .jobspec import JobSpec
from .models import Artifact, Attempt, Decision, Dependency, Job, Task
from .outcomes import Observation
from .spec import Limits, RetryPolicy, TaskSpec, check_json, check_params
from .states import FINAL_TASK_STATES, DecisionAction, JobStatus, TaskStatus

HOST = socket.gethostname()


# ---------------------------------------------------------------- submission


@dataclass(frozen=True)
class JobOptions:
    name: str = ""
    owner: Any = None
    idempotency_key: str | None = None
    labels: Mapping[str, Any] | None = None
    max_attempts: int | None = None
    max_cost: float | None = None
    deadline: datetime | None = None


def resolve(spec: TaskSpec, path: str = "", shapes: dict[Any, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Check a spec against its skill and the ceilings; return the Task row's spec fields.

    ``shapes`` caches the part that does not depend on params (limits, retry, timeout, queue), so a job
    of ten thousand tasks of one skill works it out once.
    """
    p = f"{path}." if path else ""
    definition = registry.get(spec.skill)
    check_params(definition.params_schema, spec.params, f"{p}params")
    if definition.kind == "command":
        registry.render_argv(definition, spec.params)
    key = _shape_key(spec)
    shape = shapes.get(key) if shapes is not None and key is not None else None
    if shape is None:
        shape = _resolve_shape(spec, definition, p)
        if shapes is not None and key is not None:
            shapes[key] = shape
    return {**shape, "params": dict(spec.params)}


def _shape_key(spec: TaskSpec) -> Any:
    try:
        retry = None if spec.retry is None else tuple(sorted(spec.retry.items()))
        key = (spec.skill, spec.limits, retry, spec.timeout, spec.queue, spec.priority)
        hash(key)
    except TypeError:  # an unhashable value in retry: just do not cache
        return None
    return key


def _resolve_shape(spec: TaskSpec, definition: registry.SkillDef, p: str) -> dict[str, Any]:
    ceilings = Limits.parse(settings.LIMIT_CEILINGS, "WEFT_LIMIT_CEILINGS")
    limits = definition.limits.merged(spec.limits)
    limits.check_ceilings(ceilings, f"{p}limits")
    timeout = spec.timeout or definition.timeout or settings.DEFAULT_TIMEOUT
    if timeout is not None and timeout > settings.MAX_TIMEOUT:
        raise ValidationError(f"{p}timeout", f"{timeout:g} s exceeds the configured ceiling {settings.MAX_TIMEOUT:g} s")
    priority = spec.priority if spec.priority is not None else definition.priority
    return {
        "skill_name": definition.name,
        "skill_version": definition.version,
        "limits": limits.as_dict(),
        "retry": registry.effective_retry(definition, spec.retry).as_dict(),
        "timeout": timeout,
        "queue": spec.queue or definition.queue or settings.DEFAULT_QUEUE,
        "priority": settings.DEFAULT_PRIORITY if priority is None else priority,
    }


def _check_job_options(o: JobOptions) -> None:
    if o.max_attempts is not None and (isinstance(o.max_attempts, bool) or not isinstance(o.max_attempts, int)
                                       or o.max_attempts <= 0):
        raise ValidationError("budget.max_attempts", f"must be a whole number greater than 0, got {o.max_attempts!r}")
    if o.max_cost is not None and (not isinstance(o.max_cost, int | float) or o.max_cost <= 0):
        raise ValidationError("budget.max_cost", f"must be greater than 0, got {o.max_cost!r}")
    if o.labels is not None:
        check_json(o.labels, "labels")


def create_job(specs: Sequence[TaskSpec], options: JobOptions, *, name_tasks: bool = True) -> Job:
    """Validate everything first, then write the job and its tasks in one transaction; dispatch on commit.

    Errors name fields as ``tasks[i].field``; ``name_tasks=False`` (a lone ``submit()``) drops the prefix.
    """
    _check_job_options(options)
    keyed = [(s.key or (s.skill if len(specs) == 1 else f"task-{i}"), s) for i, s in enumerate(specs)]
    if not keyed:
        raise ValidationError("tasks", "a job needs at least one task")
    edges: dict[str, tuple[str, ...]] = {}
    for i, (key, spec) in enumerate(keyed):
        if key in edges:
            raise ValidationError(f"tasks[{i}].key", f"duplicate task key {key!r}")
        edges[key] = spec.depends_on
    dag.check_graph(edges)
    shapes: dict[Any, dict[str, Any]] = {}
    fields = [resolve(spec, f"tasks[{i}]" if name_tasks else "", shapes) for i, (_, spec) in enumerate(keyed)]
    if (len(keyed) == 1 and not options.idempotency_key and options.max_attempts is None
            and options.max_cost is None and options.deadline is None and fastpath.enabled()):
        return _insert_lone_task(keyed[0][0], fields[0], options)
    if options.idempotency_key:
        existing = Job.objects.filter(idempotency_key=options.idempotency_key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            return _insert_job(keyed, fields, edges, options)
    except IntegrityError:
        if options.idempotency_key:  # a concurrent submit with the same key won the race
            return Job.objects.get(idempotency_key=options.idempotency_key)
        raise


def _insert_lone_task(key: str, fields: dict[str, Any], o: JobOptions) -> Job:
    owner_id = getattr(o.owner, "pk", None)
    job_id, task_id, created_at = fastpath.submit(key, fields, name=o.name, owner_id=owner_id,
                                                  labels=dict(o.labels or {}))
    after_commit([Ready(task_id, 0, fields["queue"], fields["priority"])])
    signals.send_on_commit(signals.job_submitted, job_id=job_id)
    job = Job(pk=job_id, name=o.name, owner_id=owner_id, labels=dict(o.labels or {}), tasks_total=1, tasks_open=1,
              created_at=created_at)
    job._state.adding = False
    job._state.db = "default"
    return job


def _insert_job(keyed: list[tuple[str, TaskSpec]], fields: list[dict[str, Any]],
                edges: dict[str, tuple[str, ...]], o: JobOptions) -> Job:
    job = Job.objects.create(
        name=o.name, owner=o.owner, idempotency_key=o.idempotency_key or None, labels=dict(o.labels or {}),
        max_attempts=o.max_attempts, max_cost=o.max_cost, deadline=o.deadline,
        tasks_total=len(keyed), tasks_open=len(keyed),
    )
    upstream_keys = {d for deps in edges.values() for d in deps}
    rows = [{**f, "key": key, "pending_deps": len(edges[key]), "has_dependents": key in upstream_keys,
             "has_dependencies": bool(edges[key]), "status": TaskStatus.PENDING if edges[key] else TaskStatus.QUEUED}
            for (key, _), f in zip(keyed, fields, strict=True)]
    if len(rows) > 1 and fastpath.enabled():
        ids = fastpath.insert_tasks(job.pk, rows)
    else:
        tasks = [Task(job=job, **r, dispatched_at=Now() if r["status"] == TaskStatus.QUEUED else None) for r in rows]
        Task.objects.bulk_create(tasks, batch_size=1000)
        ids = {t.key: t.pk for t in tasks}
    if upstream_keys:
        pairs = [(ids[d], ids[k]) for k, deps in edges.items() for d in deps]
        if fastpath.enabled():
            fastpath.insert_dependencies(pairs)
        else:
            Dependency.objects.bulk_create([Dependency(upstream_id=u, downstream_id=d) for u, d in pairs],
                                           batch_size=2000)
    after_commit([Ready(ids[r["key"]], 0, r["queue"], r["priority"]) for r in rows
                  if r["status"] == TaskStatus.QUEUED])
    signals.send_on_commit(signals.job_submitted, job_id=job.pk)
    return job


def submit_job(spec: JobSpec, owner: Any = None) -> Job:
    """Create a job from a validated JobSpec (same idempotency key, same job)."""
    return create_job(spec.tasks, JobOptions(
        name=spec.name, owner=owner, idempotency_key=spec.idempotency_key, labels=spec.labels,
        max_attempts=spec.max_attempts, max_cost=spec.max_cost, deadline=spec.deadline))


# ---------------------------------------------------------------- claim and record


@dataclass(frozen=True)
class Claimed:
    """A task this worker holds under lease ``token``, with everything needed to run it."""

    task_id: int
    job_id: int
    token: int
    attempt_id: int
    key: str
    skill_name: str
    params: dict[str, Any]
    limits: dict[str, Any]
    retry: dict[str, Any]
    timeout: float | None
    queue: str
    priority: int
    job_max_attempts: int | None
    job_max_cost: float | None
    job_deadline: datetime | None
    has_dependents: bool
    parent_id: int | None = None
    dependencies: dict[str, Any] | None = None


CLAIM_FIELDS = ("job_id", "key", "skill_name", "params", "limits", "retry", "timeout", "queue", "priority",
                "has_dependents", "has_dependencies", "parent_id", "job__status", "job__max_attempts",
                "job__max_cost", "job__deadline")


def claim(task_id: int, token: int, *, worker: str = HOST, celery_id: str = "") -> Claimed | None:
    """Take a queued task under a new lease and open its attempt; None for a duplicate or stale message."""
    if fastpath.enabled():
        fast = fastpath.claim(task_id, token, worker=worker, pid=os.getpid(), celery_id=celery_id)
        if fast is not None:
            return _claimed_fast(task_id, token, fast)
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values(*CLAIM_FIELDS).first()  # the spec is immutable
        if row is None or row["job__status"] != JobStatus.RUNNING:
            return None
        stop = _budget_stop(row)
        if stop is not None:
            stop_job(row["job_id"], stop)
            return None
        if not transitions.claim(task_id, token, lease=settings.LEASE_SECONDS, worker=worker):
            return None
        attempt = Attempt.objects.create(task_id=task_id, job_id=row["job_id"], number=token + 1, worker=worker,
                                         pid=os.getpid(), celery_id=celery_id, started_at=Now())
        deps = None
        if row["has_dependencies"]:
            deps = dict(Dependency.objects.filter(downstream_id=task_id)
                        .values_list("upstream__key", "upstream__result"))
        signals.send_on_commit(signals.task_started, job_id=row["job_id"], task_id=task_id, attempt=token + 1)
    return Claimed(
        task_id=task_id, job_id=row["job_id"], token=token + 1, attempt_id=attempt.pk, key=row["key"],
        skill_name=row["skill_name"], params=row["params"], limits=row["limits"], retry=row["retry"],
        timeout=row["timeout"], queue=row["queue"], priority=row["priority"],
        job_max_attempts=row["job__max_attempts"], job_max_cost=row["job__max_cost"],
        job_deadline=row["job__deadline"], has_dependents=row["has_dependents"], parent_id=row["parent_id"],
        dependencies=deps,
    )


def _claimed_fast(task_id: int, token: int, row: dict[str, Any]) -> Claimed:
    deps = None
    if row["has_dependencies"]:
        deps = dict(Dependency.objects.filter(downstream_id=task_id).values_list("upstream__key", "upstream__result"))
    signals.send_on_commit(signals.task_started, job_id=row["job_id"], task_id=task_id, attempt=token + 1)
    return Claimed(
        task_id=task_id, job_id=row["job_id"], token=token + 1, attempt_id=row["attempt_id"], key=row["key"],
        skill_name=row["skill_name"], params=row["params"], limits=row["limits"], retry=row["retry"],
        timeout=row["timeout"], queue=row["queue"], priority=row["priority"], job_max_attempts=None,
        job_max_cost=row["job__max_cost"], job_deadline=None, has_dependents=row["has_dependents"],
        parent_id=row["parent_id"], dependencies=deps,
    )


def _budget_stop(row: Mapping[str, Any]) -> str | None:
    """Why the job may not start another attempt, or None. Locks the job row so concurrent claims count right."""
    if row["job__deadline"] is not None and row["job__deadline"].timestamp() <= time.time():
        return f"deadline passed ({row['job__deadline'].isoformat()}) before task {row['key']!r} could start"
    if row["job__max_attempts"] is not None:
        Job.objects.select_for_update().filter(pk=row["job_id"]).values_list("pk").first()
        used = Attempt.objects.filter(job_id=row["job_id"]).count()
        if used >= row["job__max_attempts"]:
            return f"attempt budget used up: {used} of {row['job__max_attempts']} attempts"
    return None


def _decide(job_id: int, task_id: int | None, attempt_id: int | None, action: str, reason: str,
            policy: str = "", observation: Mapping[str, Any] | None = None) -> Decision:
    return Decision.objects.create(job_id=job_id, task_id=task_id, attempt_id=attempt_id, action=action,
                                   reason=reason, policy=policy, observation=dict(observation or {}))


def _close_attempt(c: Claimed, obs: Observation, outcome: str, result: Any = None) -> None:
    o = obs.outcome
    Attempt.objects.filter(pk=c.attempt_id).update(
        outcome=outcome, finished_at=Now(), duration=obs.duration, exit_code=obs.exit_code,
        error_type=_text(obs.error_type), error_message=_text(o.error or o.reason), traceback=_text(obs.traceback),
        stdout=_text(obs.stdout), stderr=_text(obs.stderr), result=result, peak_rss_mb=obs.peak_rss_mb,
        cpu_seconds=obs.cpu_seconds, peak_open_files=obs.peak_open_files, limit_hit=obs.limit_hit, cost=o.cost,
    )


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; a process may print one."""
    return value.replace("\x00", "\ufffd")


def record(c: Claimed, obs: Observation) -> None:
    """Close the attempt, decide, and apply the decision in one transaction; dispatch what became ready."""
    o = obs.outcome
    if (o.kind == "success" and not o.cost and not o.artifacts and not c.has_dependents and c.parent_id is None
            and fastpath.enabled() and _record_success_fast(c, obs)):
        return
    ready: list[Ready] = []
    with transaction.atomic():
        o = obs.outcome
        transitions.add_cost(c.job_id, o.cost)
        if o.kind == "success":
            applied = transitions.succeed(c.task_id, c.token, o.value)
            if applied:
                _close_attempt(c, obs, "succeeded", o.value)
                _save_artifacts(c, o.artifacts)
                _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.SUCCEED,
                        f"attempt {c.token} succeeded", "outcome.success")
                ready = task_final(c.job_id, c.task_id, succeeded=True, has_dependents=c.has_dependents,
                                   parent_id=c.parent_id)
        elif o.kind == "blocked":
            applied, ready = _record_blocked(c, obs)
        elif o.kind == "decompose":
            applied, ready = _record_decompose(c, obs)
        elif obs.attempt_outcome == "cancelled":
            applied = transitions.cancel_running(c.task_id, c.token, "cancelled while running")
            if applied:
                _close_attempt(c, obs, "cancelled")
                _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                        f"attempt {c.token} was interrupted: cancel requested", "cancel.request")
                ready = task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents,
                                   parent_id=c.parent_id)
        else:
            applied, ready = _record_failure(c, obs)
        if not applied:
            ready = _cancel_or_discard(c, obs)
        elif o.cost and c.job_max_cost is not None:
            spent = Job.objects.values_list("cost", flat=True).get(pk=c.job_id)
            if spent >= c.job_max_cost:
                stop_job(c.job_id, f"cost budget used up: {spent:g} of {c.job_max_cost:g}")
    after_commit(ready)


def _record_success_fast(c: Claimed, obs: Observation) -> bool:
    status = fastpath.succeed(c.task_id, c.token, c.attempt_id, obs.outcome.value, {
        "duration": obs.duration, "exit_code": obs.exit_code, "stdout": _text(obs.stdout),
        "stderr": _text(obs.stderr), "peak_rss_mb": obs.peak_rss_mb, "cpu_seconds": obs.cpu_seconds,
        "peak_open_files": obs.peak_open_files,
    })
    if status is False:
        return False
    signals.send_on_commit(signals.task_finished, job_id=c.job_id, task_id=c.task_id, status="succeeded")
    if status is not None:
        signals.send_on_commit(signals.job_finished, job_id=c.job_id, status=status)
    return True


def _save_artifacts(c: Claimed, artifacts: Mapping[str, Any]) -> None:
    if artifacts:
        Artifact.objects.bulk_create([Artifact(job_id=c.job_id, task_id=c.task_id, attempt_id=c.attempt_id,
                                               name=name, value=value) for name, value in artifacts.items()])


def _fail_now(c: Claimed, obs: Observation, reason: str, policy: str) -> tuple[bool, list[Ready]]:
    """Fail the task for good without consulting the retry policy (bad decomposition, runtime cycle)."""
    if not transitions.fail(c.task_id, c.token, reason):
        return False, []
    _close_attempt(c, obs, "failed")
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.FAIL, reason, policy)
    return True, task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents,
                            parent_id=c.parent_id)


def _resolve_new(specs: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str,
                 local: Mapping[str, str] | None = None) -> list[tuple[str, TaskSpec, dict[str, Any]]]:
    """Parse and resolve run-time task specs; ``local`` maps sibling keys to job-wide keys."""
    out = []
    for i, (raw, key) in enumerate(zip(specs, keys, strict=True)):
        spec = TaskSpec.parse(raw, f"{path}[{i}]")
        deps = tuple(local.get(d, d) for d in spec.depends_on) if local else spec.depends_on
        spec = TaskSpec(**{**spec.__dict__, "key": key, "depends_on": deps})
        out.append((key, spec, resolve(spec, f"{path}[{i}]")))
    return out


def _record_decompose(c: Claimed, obs: Observation) -> tuple[bool, list[Ready]]:
    o = obs.outcome
    try:
        if not o.children:
            raise ValidationError("children", "a decomposition needs at least one child task")
        local = [str(raw.get("key") or i) if isinstance(raw, Mapping) else str(i) for i, raw in enumerate(o.children)]
        full = {k: f"{c.key}/{k}" for k in local}
        if len(full) != len(local):
            raise ValidationError("children", "duplicate child keys")
        keyed = _resolve_new(o.children, [full[k] for k in local], "children", full)
        for key, spec, _ in keyed:
            unknown = [d for d in spec.depends_on if d not in full.values()]
            if unknown:
                raise ValidationError(f"children.{key}.depends_on", f"unknown sibling key {unknown[0]!r}")
        dag.check_graph({k: s.depends_on for k, s, _ in keyed}, "children")
        if o.join is not None:
            join = {**o.join, "depends_on": local}
            keyed += _resolve_new([join], [f"{c.key}/join"], "join", full)
    except WeftError as exc:
        return _fail_now(c, obs, f"invalid decomposition: {exc}", "decompose.invalid")
    if not transitions.wait(c.task_id, c.token):
        return False, []
    _close_attempt(c, obs, "decomposed")
    rows = scheduling.add_tasks(c.job_id, c.task_id, keyed)
    join_note = f"; joined by {o.join.get('skill')!r}" if o.join else ""
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.DECOMPOSE,
            f"decomposed into {len(o.children)} child tasks{join_note}", "outcome.decompose",
            {"children": [k for k, _, _ in keyed]})
    return True, [Ready(t.pk, 0, t.queue, t.priority) for t in rows if t.status == TaskStatus.QUEUED]


def _record_blocked(c: Claimed, obs: Observation) -> tuple[bool, list[Ready]]:
    o = obs.outcome
    keyed: list[tuple[str, TaskSpec, dict[str, Any]]] = []
    if o.needs:
        try:
            keys = [str(n.get("key") or f"{c.key}.need{c.token}.{i}") if isinstance(n, Mapping) else ""
                    for i, n in enumerate(o.needs)]
            keyed = _resolve_new(o.needs, keys, "needs")
            new_edges = {k: list(s.depends_on) for k, s, _ in keyed}
            new_edges[c.key] = keys
            scheduling.check_acyclic(c.job_id, new_edges)
        except WeftError as exc:
            return _fail_now(c, obs, f"refused runtime dependencies: {exc}", "dag.runtime_cycle")
    if not transitions.block(c.task_id, c.token, o.reason):
        return False, []
    _close_attempt(c, obs, "blocked")
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.BLOCK, f"blocked: {o.reason}", "outcome.blocked")
    if not keyed:
        _stop_if_stuck(c.job_id)
        return True, []
    # Needs are children of the task that asked for them; a waiting parent gathers only its decomposition
    # children (keys under its own key), so they never mix into its result.
    rows = scheduling.add_tasks(c.job_id, c.task_id, keyed, [(k, c.key) for k, _, _ in keyed])
    Task.objects.filter(pk=c.task_id).update(pending_deps=F("pending_deps") + len(keyed), has_dependencies=True)
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.ADD_DEPENDENCY,
            f"added {len(keyed)} dependencies at run time: {', '.join(k for k, _, _ in keyed)}",
            "outcome.blocked.needs", {"needs": [k for k, _, _ in keyed]})
    return True, [Ready(t.pk, 0, t.queue, t.priority) for t in rows if t.status == TaskStatus.QUEUED]


def _record_failure(c: Claimed, obs: Observation) -> tuple[bool, list[Ready]]:
    choice = decide_failure(
        Failure(attempt=c.token, error_type=obs.error_type or "Error", message=obs.outcome.error,
                retryable=obs.outcome.retryable, outcome=obs.attempt_outcome, limit_hit=obs.limit_hit),
        RetryPolicy(**c.retry), budget=_budget(c), now=time.time(), rand=random.random(),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    error = _text(f"{obs.error_type}: {obs.outcome.error}" if obs.error_type else obs.outcome.error)
    if choice.action == "retry":
        if not transitions.retry(c.task_id, c.token, choice.delay, error):
            return False, []
        _close_attempt(c, obs, obs.attempt_outcome)
        _record_choice(c, choice)
        return True, [Ready(c.task_id, c.token, c.queue, c.priority, choice.delay)]
    if not transitions.fail(c.task_id, c.token, error):
        return False, []
    _close_attempt(c, obs, obs.attempt_outcome)
    _record_choice(c, choice)
    if choice.action == "stop_job":  # before task_final, which would otherwise finish the job as failed
        stop_job(c.job_id, choice.reason)
    return True, task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents,
                            parent_id=c.parent_id)


def _record_choice(c: Claimed, choice: Choice) -> None:
    action = {"retry": DecisionAction.RETRY, "fail": DecisionAction.FAIL}.get(choice.action, DecisionAction.FAIL)
    _decide(c.job_id, c.task_id, c.attempt_id, action, choice.reason, choice.policy, choice.observation)


def _budget(c: Claimed) -> Budget:
    attempts_left = None
    if c.job_max_attempts is not None:
        attempts_left = c.job_max_attempts - Attempt.objects.filter(job_id=c.job_id).count()
    cost_left = None
    if c.job_max_cost is not None:
        spent = Job.objects.values_list("cost", flat=True).get(pk=c.job_id)
        cost_left = c.job_max_cost - spent
    deadline = c.job_deadline.timestamp() if c.job_deadline else None
    return Budget(attempts_left=attempts_left, cost_left=cost_left, deadline=deadline)


def _cancel_or_discard(c: Claimed, obs: Observation) -> list[Ready]:
    """The outcome could not be applied: either a cancel came in while it ran, or the lease was lost."""
    if transitions.cancel_running(c.task_id, c.token, "cancel requested while it ran"):
        _close_attempt(c, obs, obs.attempt_outcome if obs.attempt_outcome != "succeeded" else "cancelled")
        _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                f"attempt {c.token} ended ({obs.attempt_outcome}) after cancel was requested; not run again",
                "cancel.request")
        return task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents,
                          parent_id=c.parent_id)
    _discard(c, obs)
    return []


def _discard(c: Claimed, obs: Observation) -> None:
    """The lease was lost before this worker reported: keep its result on its attempt, apply nothing."""
    result = obs.outcome.value if obs.outcome.kind == "success" else None
    _close_attempt(c, obs, "discarded", result)
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.DISCARD_STALE,
            f"attempt {c.token} reported {obs.attempt_outcome} after losing its lease; result not applied",
            "fencing", {"token": c.token})


_UNKNOWN: Any = object()


def task_final(job_id: int, task_id: int, *, succeeded: bool, has_dependents: bool,
               parent_id: int | None = _UNKNOWN) -> list[Ready]:
    """A task became final: release or skip its dependents, finish its parent or job if it was the last."""
    ready: list[Ready] = []
    finished, failed = 1, 0 if succeeded else 1
    touched_parents = set()
    if parent_id is _UNKNOWN:
        parent_id = Task.objects.values_list("parent_id", flat=True).get(pk=task_id)
    if parent_id is not None:
        touched_parents.add(parent_id)
    if has_dependents:
        if succeeded:
            ready = scheduling.release_dependents(task_id)
        else:
            names = {task_id: Task.objects.values_list("key", flat=True).get(pk=task_id)}
            for up, down, key, parent in scheduling.downstream_to_skip(task_id):
                reason = f"upstream task {names.get(up, up)!r} did not succeed"
                if transitions.skip(down, reason):
                    _decide(job_id, down, None, DecisionAction.SKIP, f"skipped: {reason}", "dag.upstream_failed",
                            {"upstream": up})
                    finished += 1
                    failed += 1
                    names[down] = key
                    if parent is not None:
                        touched_parents.add(parent)
    status = transitions.count_finished(job_id, finished=finished, failed=failed)
    signals.send_on_commit(signals.task_finished, job_id=job_id, task_id=task_id,
                           status="succeeded" if succeeded else "failed")
    for parent in touched_parents:
        ready += _finish_parent(job_id, parent)
    if status is not None:
        _decide(job_id, None, None, DecisionAction.FINISH_JOB, f"every task is final; the job {status}",
                "job.complete")
        signals.send_on_commit(signals.job_finished, job_id=job_id, status=status)
    elif not ready and Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).exists():
        _stop_if_stuck(job_id)  # a transition that readied work cannot have left the job stuck
    return ready


def _finish_parent(job_id: int, parent_id: int) -> list[Ready]:
    """A child became final: complete its waiting parent when every child succeeded, fail it when one did not."""
    parent = Task.objects.select_for_update().filter(pk=parent_id, status=TaskStatus.WAITING).first()
    if parent is None:
        return []
    prefix = f"{parent.key}/"
    children = list(Task.objects.filter(parent_id=parent_id, key__startswith=prefix)
                    .values_list("pk", "key", "status", "result"))
    bad = [(k, s) for _, k, s, _ in children if s in FINAL_TASK_STATES and s != TaskStatus.SUCCEEDED]
    if bad:
        key, state = bad[0]
        reason = f"child task {key!r} {state}"
        transitions.fail_waiting(parent_id, reason)
        _decide(job_id, parent_id, None, DecisionAction.FAIL, f"failed: {reason}", "decompose.child_failed")
        live = [pk for pk, _, s, _ in children if s not in FINAL_TASK_STATES]
        cancelled = transitions.cancel_idle(live, f"sibling task {key!r} {state}")
        transitions.request_cancel(live)
        if cancelled:
            transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
        return task_final(job_id, parent_id, succeeded=False, has_dependents=parent.has_dependents,
                          parent_id=parent.parent_id)
    if any(s not in FINAL_TASK_STATES for _, _, s, _ in children):
        return []
    results = {k.removeprefix(prefix): r for _, k, _, r in children}
    value = results["join"] if f"{prefix}join" in {k for _, k, _, _ in children} else results
    transitions.finish_waiting(parent_id, value)
    _decide(job_id, parent_id, None, DecisionAction.SUCCEED, f"all {len(children)} child tasks succeeded",
            "decompose.complete")
    return task_final(job_id, parent_id, succeeded=True, has_dependents=parent.has_dependents,
                      parent_id=parent.parent_id)


def _stop_if_stuck(job_id: int) -> None:
    reason = scheduling.stuck_report(job_id)
    if reason is not None:
        stop_job(job_id, reason)


# ---------------------------------------------------------------- cancel and stop


def stop_job(job_id: int, reason: str, status: JobStatus = JobStatus.STOPPED) -> bool:
    """End a running job: cancel its idle tasks now, ask running ones to stop. False if already ended."""
    # Lock the live tasks before the job row, in id order: record() locks a task and then its job, so
    # taking the job first here could deadlock with a task of this job finishing at the same moment.
    live = list(Task.objects.filter(job_id=job_id).live().order_by("pk").select_for_update()
                .values_list("pk", "status"))
    if not transitions.end_job(job_id, status, reason):
        return False
    idle = [pk for pk, s in live if s != TaskStatus.RUNNING]
    cancelled = transitions.cancel_idle(idle, reason)
    transitions.request_cancel([pk for pk, s in live if s == TaskStatus.RUNNING])
    if cancelled:
        transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
    action = DecisionAction.CANCEL if status == JobStatus.CANCELLED else DecisionAction.STOP_JOB
    _decide(job_id, None, None, action, reason, f"job.{status}", {"cancelled_tasks": cancelled})
    signals.send_on_commit(signals.job_finished, job_id=job_id, status=str(status))
    return True


def cancel(job_id: int, reason: str = "cancelled by request") -> bool:
    with transaction.atomic():
        if not Job.objects.filter(pk=job_id).exists():
            raise NotFound(f"no job with id {job_id}")
        return stop_job(job_id, reason, JobStatus.CANCELLED)


def cancel_task(task_id: int, reason: str = "cancelled by request") -> bool:
    """Cancel one task: at once if idle, through its worker if running. False if it was already final."""
    ready: list[Ready] = []
    with transaction.atomic():
        row = Task.objects.filter(pk=task_id).values_list("job_id", "status", "has_dependents", "parent_id").first()
        if row is None:
            raise NotFound(f"no task with id {task_id}")
        job_id, state, has_dependents, parent_id = row
        if state == TaskStatus.RUNNING:
            return bool(transitions.request_cancel([task_id]))
        if not transitions.cancel_idle([task_id], reason):
            return False
        _decide(job_id, task_id, None, DecisionAction.CANCEL, reason, "cancel.request")
        ready = task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)
    after_commit(ready)
    return True
