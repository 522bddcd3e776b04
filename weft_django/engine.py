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
from django.db.models import Count, F
from django.db.models.functions import Now

from . import dag, registry, transitions
from .conf import settings
from .deciders import DEFAULT_LIMIT_POLICY, Budget, Choice, Failure, decide_failure
from .dispatch import Ready, after_commit
from .exceptions import NotFound, ValidationError
from .models import Attempt, Decision, Dependency, Job, Task
from .outcomes import Observation
from .spec import Limits, RetryPolicy, TaskSpec, check_json, check_params
from .states import DecisionAction, JobStatus, TaskStatus

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


def resolve(spec: TaskSpec, path: str = "") -> dict[str, Any]:
    """Check a spec against its skill and the ceilings; return the Task row's spec fields."""
    p = f"{path}." if path else ""
    definition = registry.get(spec.skill)
    check_params(definition.params_schema, spec.params, f"{p}params")
    if definition.kind == "command":
        registry.render_argv(definition, spec.params)
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
        "params": dict(spec.params),
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


def create_job(specs: Sequence[TaskSpec], options: JobOptions) -> Job:
    """Validate everything first, then write the job and its tasks in one transaction; dispatch on commit."""
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
    fields = [resolve(spec, f"tasks[{i}]") for i, (_, spec) in enumerate(keyed)]
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


def _insert_job(keyed: list[tuple[str, TaskSpec]], fields: list[dict[str, Any]],
                edges: dict[str, tuple[str, ...]], o: JobOptions) -> Job:
    job = Job.objects.create(
        name=o.name, owner=o.owner, idempotency_key=o.idempotency_key or None, labels=dict(o.labels or {}),
        max_attempts=o.max_attempts, max_cost=o.max_cost, deadline=o.deadline,
        tasks_total=len(keyed), tasks_open=len(keyed),
    )
    upstream_keys = {d for deps in edges.values() for d in deps}
    rows = [
        Task(job=job, key=key, **f, pending_deps=len(edges[key]), has_dependents=key in upstream_keys,
             status=TaskStatus.PENDING if edges[key] else TaskStatus.QUEUED,
             dispatched_at=None if edges[key] else Now())
        for (key, _), f in zip(keyed, fields, strict=True)
    ]
    if len(rows) == 1:
        rows[0].save(force_insert=True)
    else:
        Task.objects.bulk_create(rows, batch_size=1000)
    if upstream_keys:
        by_key = {t.key: t.pk for t in rows}
        Dependency.objects.bulk_create(
            [Dependency(upstream_id=by_key[d], downstream_id=by_key[k]) for k, deps in edges.items() for d in deps],
            batch_size=2000,
        )
    after_commit([Ready(t.pk, 0, t.queue, t.priority) for t in rows if t.status == TaskStatus.QUEUED])
    return job


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


def claim(task_id: int, token: int, *, worker: str = HOST, celery_id: str = "") -> Claimed | None:
    """Take a queued task under a new lease and open its attempt; None for a duplicate or stale message."""
    with transaction.atomic():
        if not transitions.claim(task_id, token, lease=settings.LEASE_SECONDS, worker=worker):
            return None
        row = Task.objects.filter(pk=task_id).values(
            "job_id", "key", "skill_name", "params", "limits", "retry", "timeout", "queue", "priority",
            "has_dependents", "job__max_attempts", "job__max_cost", "job__deadline",
        ).get()
        attempt = Attempt.objects.create(task_id=task_id, job_id=row["job_id"], number=token + 1, worker=worker,
                                         pid=os.getpid(), celery_id=celery_id, started_at=Now())
    return Claimed(
        task_id=task_id, job_id=row["job_id"], token=token + 1, attempt_id=attempt.pk, key=row["key"],
        skill_name=row["skill_name"], params=row["params"], limits=row["limits"], retry=row["retry"],
        timeout=row["timeout"], queue=row["queue"], priority=row["priority"],
        job_max_attempts=row["job__max_attempts"], job_max_cost=row["job__max_cost"],
        job_deadline=row["job__deadline"], has_dependents=row["has_dependents"],
    )


def _decide(job_id: int, task_id: int | None, attempt_id: int | None, action: str, reason: str,
            policy: str = "", observation: Mapping[str, Any] | None = None) -> Decision:
    return Decision.objects.create(job_id=job_id, task_id=task_id, attempt_id=attempt_id, action=action,
                                   reason=reason, policy=policy, observation=dict(observation or {}))


def _close_attempt(c: Claimed, obs: Observation, outcome: str, result: Any = None) -> None:
    o = obs.outcome
    message = o.error or o.reason
    Attempt.objects.filter(pk=c.attempt_id).update(
        outcome=outcome, finished_at=Now(), duration=obs.duration, exit_code=obs.exit_code,
        error_type=obs.error_type, error_message=message, traceback=obs.traceback,
        stdout=obs.stdout, stderr=obs.stderr, result=result, peak_rss_mb=obs.peak_rss_mb,
        cpu_seconds=obs.cpu_seconds, peak_open_files=obs.peak_open_files, limit_hit=obs.limit_hit, cost=o.cost,
    )


def record(c: Claimed, obs: Observation) -> None:
    """Close the attempt, decide, and apply the decision in one transaction; dispatch what became ready."""
    ready: list[Ready] = []
    with transaction.atomic():
        o = obs.outcome
        transitions.add_cost(c.job_id, o.cost)
        if o.kind == "success":
            applied = transitions.succeed(c.task_id, c.token, o.value)
            if applied:
                _close_attempt(c, obs, "succeeded", o.value)
                _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.SUCCEED,
                        f"attempt {c.token} succeeded", "outcome.success")
                ready = task_final(c.job_id, c.task_id, succeeded=True, has_dependents=c.has_dependents)
        elif o.kind == "blocked":
            applied = transitions.block(c.task_id, c.token, o.reason)
            if applied:
                _close_attempt(c, obs, "blocked")
                _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.BLOCK, f"blocked: {o.reason}",
                        "outcome.blocked")
        elif o.kind == "decompose":
            applied = transitions.fail(c.task_id, c.token, "decomposition is not available yet")
            if applied:
                _close_attempt(c, obs, "failed")
                ready = task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents)
        elif obs.attempt_outcome == "cancelled":
            applied = transitions.cancel_running(c.task_id, c.token, "cancelled while running")
            if applied:
                _close_attempt(c, obs, "cancelled")
                _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                        f"attempt {c.token} was interrupted: cancel requested", "cancel.request")
                ready = task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents)
        else:
            applied, ready = _record_failure(c, obs)
        if not applied:
            _discard(c, obs)
    after_commit(ready)


def _record_failure(c: Claimed, obs: Observation) -> tuple[bool, list[Ready]]:
    choice = decide_failure(
        Failure(attempt=c.token, error_type=obs.error_type or "Error", message=obs.outcome.error,
                retryable=obs.outcome.retryable, outcome=obs.attempt_outcome, limit_hit=obs.limit_hit),
        RetryPolicy(**c.retry), budget=_budget(c), now=time.time(), rand=random.random(),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    error = f"{obs.error_type}: {obs.outcome.error}" if obs.error_type else obs.outcome.error
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
    ready = task_final(c.job_id, c.task_id, succeeded=False, has_dependents=c.has_dependents)
    if choice.action == "stop_job":
        stop_job(c.job_id, choice.reason)
    return True, ready


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


def _discard(c: Claimed, obs: Observation) -> None:
    """The lease was lost before this worker reported: keep its result on its attempt, apply nothing."""
    result = obs.outcome.value if obs.outcome.kind == "success" else None
    _close_attempt(c, obs, "discarded", result)
    _decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.DISCARD_STALE,
            f"attempt {c.token} reported {obs.attempt_outcome} after losing its lease; result not applied",
            "fencing", {"token": c.token})


def task_final(job_id: int, task_id: int, *, succeeded: bool, has_dependents: bool) -> list[Ready]:
    """A task became final: release or skip its dependents, count it, finish the job if it was the last."""
    ready: list[Ready] = []
    finished, failed = 1, 0 if succeeded else 1
    if has_dependents:
        if succeeded:
            ready = _release_dependents(task_id)
        else:
            skipped = _skip_dependents(job_id, task_id)
            finished += skipped
            failed += skipped
    transitions.count_finished(job_id, finished=finished, failed=failed)
    status = transitions.finish_job_if_done(job_id)
    if status is not None:
        _decide(job_id, task_id, None, DecisionAction.FINISH_JOB, f"every task is final; the job {status}",
                "job.complete")
    return ready


def _release_dependents(task_id: int) -> list[Ready]:
    down = list(Dependency.objects.filter(upstream_id=task_id).values_list("downstream_id", flat=True))
    Task.objects.filter(pk__in=down).update(pending_deps=F("pending_deps") - 1)
    rows = list(Task.objects.filter(pk__in=down, pending_deps=0, status=TaskStatus.PENDING)
                .values_list("pk", "queue", "priority", "attempts"))
    for pk, *_ in rows:
        transitions.queue(pk)
    return [Ready(pk, attempts, queue, prio) for pk, queue, prio, attempts in rows]


def _skip_dependents(job_id: int, task_id: int) -> int:
    """Skip everything downstream of a task that will never succeed; each skip names the upstream."""
    skipped = 0
    frontier = [task_id]
    names = dict(Task.objects.filter(pk=task_id).values_list("pk", "key"))
    while frontier:
        edges = list(Dependency.objects.filter(upstream_id__in=frontier)
                     .values_list("upstream_id", "downstream_id", "downstream__key"))
        frontier = []
        for up, down, key in edges:
            if transitions.skip(down, f"upstream task {names.get(up, up)!r} did not succeed"):
                _decide(job_id, down, None, DecisionAction.SKIP,
                        f"skipped: upstream task {names.get(up, up)!r} did not succeed", "dag.upstream_failed",
                        {"upstream": up})
                skipped += 1
                names[down] = key
                frontier.append(down)
    return skipped


# ---------------------------------------------------------------- cancel and stop


def stop_job(job_id: int, reason: str, status: JobStatus = JobStatus.STOPPED) -> bool:
    """End a running job: cancel its idle tasks now, ask running ones to stop. False if already ended."""
    if not transitions.end_job(job_id, status, reason):
        return False
    live = list(Task.objects.filter(job_id=job_id).live().values_list("pk", "status"))
    idle = [pk for pk, s in live if s != TaskStatus.RUNNING]
    cancelled = transitions.cancel_idle(idle, reason)
    transitions.request_cancel([pk for pk, s in live if s == TaskStatus.RUNNING])
    if cancelled:
        transitions.count_finished(job_id, finished=cancelled, failed=cancelled)
    action = DecisionAction.CANCEL if status == JobStatus.CANCELLED else DecisionAction.STOP_JOB
    _decide(job_id, None, None, action, reason, f"job.{status}", {"cancelled_tasks": cancelled})
    return True


def cancel(job_id: int, reason: str = "cancelled by request") -> bool:
    with transaction.atomic():
        if not Job.objects.filter(pk=job_id).exists():
            raise NotFound(f"no job with id {job_id}")
        return stop_job(job_id, reason, JobStatus.CANCELLED)


# ---------------------------------------------------------------- reads


def get_job(job_id: Any) -> Job:
    try:
        return Job.objects.get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"no job with id {job_id!r}") from None


def status(job_id: Any) -> dict[str, Any]:
    job = get_job(job_id)
    counts = dict(Task.objects.filter(job_id=job.pk).values_list("status").annotate(n=Count("pk")).order_by())
    done = job.tasks_total - max(job.tasks_open, 0)
    return {
        "id": job.pk, "name": job.name, "status": job.status, "stop_reason": job.stop_reason,
        "tasks": {s: counts.get(s, 0) for s in TaskStatus.values if counts.get(s)},
        "total": job.tasks_total, "done": done,
        "progress": round(done / job.tasks_total, 4) if job.tasks_total else 1.0,
        "cost": job.cost, "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
