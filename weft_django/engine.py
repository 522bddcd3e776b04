"""The engine's worker side: claim a task under a lease, and record an attempt's outcome (decide with the
pure deciders and apply the decision in one transaction). Submission is in submission.py, what
follows a task becoming final in completion.py. Nothing here imports Celery: ready work is handed to
dispatch.py after commit.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Now

from . import dag, fastpath, registry, scheduling, signals, transitions
from .completion import decide, fail_for_good, job_budget, stop_if_stuck, stop_job, task_final
from .conf import settings
from .deciders import DEFAULT_LIMIT_POLICY, Budget, Choice, Failure, decide_failure
from .exceptions import ValidationError, WeftError
from .handoff import Ready, after_commit
from .models import Artifact, Attempt, Dependency, Job, Task
from .outcomes import Observation
from .spec import RetryPolicy, TaskSpec
from .states import DecisionAction, JobStatus, TaskStatus
from .storable import storable
from .submission import resolve

HOST = socket.gethostname()


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


def _close_attempt(c: Claimed, obs: Observation, outcome: str, result: Any = None) -> str:
    """Close the attempt as ``outcome``; returns it. ``result`` only for a result that was not applied: an
    applied one lives on its task alone (a result is stored once)."""
    o = obs.outcome
    Attempt.objects.filter(pk=c.attempt_id).update(
        outcome=outcome, finished_at=Now(), duration=obs.duration, exit_code=obs.exit_code,
        error_type=obs.error_type, error_message=o.error or o.reason, traceback=obs.traceback,
        stdout=obs.stdout, stderr=obs.stderr, result=result, peak_rss_mb=obs.peak_rss_mb,
        cpu_seconds=obs.cpu_seconds, peak_open_files=obs.peak_open_files, limit_hit=obs.limit_hit, cost=o.cost,
    )
    return outcome


def record(c: Claimed, obs: Observation) -> tuple[str, str]:
    """Close the attempt, decide, and apply the decision in one transaction; dispatch what became ready.

    Returns the outcome the attempt was closed with and its error type. The observation is first made
    storable (storable.py): what the database would refuse is cleaned, or refused as a non-retryable failure.
    """
    obs = storable(obs, settings.MAX_RESULT_BYTES)
    o = obs.outcome
    if (o.kind == "success" and not o.cost and not o.artifacts and not c.has_dependents and c.parent_id is None
            and fastpath.enabled() and _record_success_fast(c, obs)):
        return "succeeded", ""
    ready: list[Ready] = []
    closed = ""  # the outcome the attempt was closed with, once the decision applied
    with transaction.atomic():
        if o.kind != "blocked":
            transitions.add_cost(c.job_id, o.cost)
        if o.kind == "success":
            # Claimed without dependents, it may have gained some while it ran (a need that depends on it):
            # then the first update refuses, and the second, which applies, says it has them.
            deps = c.has_dependents
            if (transitions.succeed(c.task_id, c.token, o.value, without_dependents=not deps)
                    or (not deps and (deps := transitions.succeed(c.task_id, c.token, o.value)))):
                closed = _close_attempt(c, obs, "succeeded")
                _save_artifacts(c, o.artifacts)
                decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.SUCCEED,
                        f"attempt {c.token} succeeded", "outcome.success")
                ready = task_final(c.job_id, c.task_id, succeeded=True, has_dependents=deps, parent_id=c.parent_id)
        elif o.kind == "blocked":
            closed, ready = _record_blocked(c, obs)
            # The job row after the tasks a need waits on (scheduling.add_tasks locks them), as a task that
            # finishes takes them: in the other order the two could deadlock.
            transitions.add_cost(c.job_id, o.cost)
        elif o.kind == "decompose":
            closed, ready = _record_decompose(c, obs)
        elif obs.attempt_outcome == "cancelled":
            if transitions.cancel_running(c.task_id, c.token, "cancelled while running"):
                closed = _close_attempt(c, obs, "cancelled")
                decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                        f"attempt {c.token} was interrupted: cancel requested", "cancel.request")
                ready = _task_final(c, succeeded=False)
        else:
            closed, ready = _record_failure(c, obs)
        if not closed:
            closed, ready = _cancel_or_discard(c, obs)
        elif o.cost and c.job_max_cost is not None:
            spent = Job.objects.values_list("cost", flat=True).get(pk=c.job_id)
            if spent >= c.job_max_cost:
                stop_job(c.job_id, f"cost budget used up: {spent:g} of {c.job_max_cost:g}")
    after_commit(ready)
    return closed, obs.error_type


def _record_success_fast(c: Claimed, obs: Observation) -> bool:
    status = fastpath.succeed(c.task_id, c.token, c.attempt_id, obs.outcome.value, {
        "duration": obs.duration, "exit_code": obs.exit_code, "stdout": obs.stdout,
        "stderr": obs.stderr, "peak_rss_mb": obs.peak_rss_mb, "cpu_seconds": obs.cpu_seconds,
        "peak_open_files": obs.peak_open_files,
    })
    if status is False or status is True:
        return False
    final, still_open = status
    signals.send_on_commit(signals.task_finished, job_id=c.job_id, task_id=c.task_id, status="succeeded")
    if final is not None:
        signals.send_on_commit(signals.job_finished, job_id=c.job_id, status=final)
    elif still_open:
        # Others of its job remain: if none of them can run (blocked, or pending behind blocked ones), this
        # was the last runnable task and the job is stuck. (A one-task job never gets here.)
        with transaction.atomic():
            stop_if_stuck(c.job_id)
    return True


def _save_artifacts(c: Claimed, artifacts: Mapping[str, Any]) -> None:
    if artifacts:
        Artifact.objects.bulk_create([Artifact(job_id=c.job_id, task_id=c.task_id, attempt_id=c.attempt_id,
                                               name=name, value=value) for name, value in artifacts.items()])


def _fail_now(c: Claimed, obs: Observation, reason: str, policy: str) -> tuple[str, list[Ready]]:
    """Fail the task for good without consulting the retry policy (bad decomposition, runtime cycle)."""
    if not transitions.fail(c.task_id, c.token, reason):
        return "", []
    outcome = _close_attempt(c, obs, "failed")
    decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.FAIL, reason, policy)
    return outcome, _task_final(c, succeeded=False)


def _task_final(c: Claimed, *, succeeded: bool) -> list[Ready]:
    """``task_final`` for the claimed task that did not succeed. Whether it has dependents is read again
    unless the claim saw some: a need added while this attempt ran may depend on it (scheduling.add_tasks
    locks this row to add the edge, so this read, after this transaction's own update of the row, sees it)."""
    return task_final(c.job_id, c.task_id, succeeded=succeeded, has_dependents=_has_dependents(c),
                      parent_id=c.parent_id)


def _has_dependents(c: Claimed) -> bool:
    return c.has_dependents or Task.objects.filter(pk=c.task_id, has_dependents=True).exists()


KEY_MAX = Task._meta.get_field("key").max_length or 200


def check_new_keys(job_id: int, keys: Sequence[str], field: str) -> None:
    """Raise ValidationError naming the first new task key the job cannot take: too long, given twice or taken."""
    seen: set[str] = set()
    for key in keys:
        if len(key) > KEY_MAX:
            raise ValidationError(field, f"task key {key!r} has {len(key)} characters, more than {KEY_MAX}")
        if key in seen:
            raise ValidationError(field, f"task key {key!r} is given twice")
        seen.add(key)
    taken = Task.objects.filter(job_id=job_id, key__in=keys).values_list("key", flat=True).first()
    if taken is not None:
        raise ValidationError(field, f"task key {taken!r} already exists in the job")


def _add_or_refuse(c: Claimed, obs: Observation, keys: Sequence[str], field: str, what: str, policy: str,
                   apply: Callable[[], tuple[str, list[Ready]]]) -> tuple[str, list[Ready]]:
    """Apply an outcome that adds tasks; if another task of the job added one of the same keys at the same
    moment (its insert committed first, past ``check_new_keys``), fail the attempt naming the key."""
    try:
        with transaction.atomic():
            return apply()
    except IntegrityError:
        taken = Task.objects.filter(job_id=c.job_id, key__in=keys).values_list("key", flat=True).first()
        if taken is None:
            raise
        return _fail_now(c, obs, f"{what}: {field}: task key {taken!r} already exists in the job", policy)


def _resolve_new(specs: Sequence[Mapping[str, Any]], keys: Sequence[str], path: str,
                 local: Mapping[str, str] | None = None) -> list[tuple[str, TaskSpec, dict[str, Any]]]:
    """Parse and resolve run-time task specs; ``local`` maps sibling keys to job-wide keys."""
    out = []
    for i, (raw, key) in enumerate(zip(specs, keys, strict=True)):
        spec = TaskSpec.parse(raw, f"{path}[{i}]")
        deps = tuple(local.get(d, d) for d in spec.depends_on) if local else spec.depends_on
        spec = TaskSpec(**{**spec.__dict__, "key": key, "depends_on": deps})
        out.append((key, spec, resolve(spec, f"{path}[{i}]")))
    registry.check_enabled([(f"{path}[{i}]", registry.get(spec.skill)) for i, (_, spec, _) in enumerate(out)])
    return out


def _record_decompose(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    o = obs.outcome
    what = "invalid decomposition"
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
        check_new_keys(c.job_id, [k for k, _, _ in keyed], "children")
    except WeftError as exc:
        return _fail_now(c, obs, f"{what}: {exc}", "decompose.invalid")

    def apply() -> tuple[str, list[Ready]]:
        if not transitions.wait(c.task_id, c.token):
            return "", []
        outcome = _close_attempt(c, obs, "decomposed")
        rows = scheduling.add_tasks(c.job_id, c.task_id, keyed)
        join_note = f"; joined by {o.join.get('skill')!r}" if o.join else ""
        decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.DECOMPOSE,
               f"decomposed into {len(o.children)} child tasks{join_note}", "outcome.decompose",
               {"children": [k for k, _, _ in keyed]})
        return outcome, [Ready(t.pk, 0, t.queue, t.priority) for t in rows if t.status == TaskStatus.QUEUED]

    return _add_or_refuse(c, obs, [k for k, _, _ in keyed], "children", what, "decompose.invalid", apply)


def _record_blocked(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    o = obs.outcome
    keyed: list[tuple[str, TaskSpec, dict[str, Any]]] = []
    what = "refused runtime dependencies"
    if o.needs:
        try:
            keys = [str(n.get("key") or f"{c.key}.need{c.token}.{i}") if isinstance(n, Mapping) else ""
                    for i, n in enumerate(o.needs)]
            keyed = _resolve_new(o.needs, keys, "needs")
            check_new_keys(c.job_id, keys, "needs")
            new_edges = {k: list(s.depends_on) for k, s, _ in keyed}
            new_edges[c.key] = keys
            scheduling.check_acyclic(c.job_id, new_edges)
        except WeftError as exc:
            return _fail_now(c, obs, f"{what}: {exc}", "dag.runtime_cycle")

    def apply() -> tuple[str, list[Ready]]:
        if not transitions.block(c.task_id, c.token, o.reason):
            return "", []
        outcome = _close_attempt(c, obs, "blocked")
        decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.BLOCK, f"blocked: {o.reason}", "outcome.blocked")
        if not keyed:
            stop_if_stuck(c.job_id)
            return outcome, []
        # Needs are children of the task that asked for them; a waiting parent gathers only its decomposition
        # children (keys under its own key), so they never mix into its result.
        rows = scheduling.add_tasks(c.job_id, c.task_id, keyed, [(k, c.key) for k, _, _ in keyed])
        Task.objects.filter(pk=c.task_id).update(pending_deps=F("pending_deps") + len(keyed), has_dependencies=True)
        decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.ADD_DEPENDENCY,
               f"added {len(keyed)} dependencies at run time: {', '.join(k for k, _, _ in keyed)}",
               "outcome.blocked.needs", {"needs": [k for k, _, _ in keyed]})
        return outcome, [Ready(t.pk, 0, t.queue, t.priority) for t in rows if t.status == TaskStatus.QUEUED]

    if not keyed:
        return apply()
    return _add_or_refuse(c, obs, [k for k, _, _ in keyed], "needs", what, "dag.runtime_cycle", apply)


def _record_failure(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    choice = decide_failure(
        Failure(attempt=c.token, error_type=obs.error_type or "Error", message=obs.outcome.error,
                retryable=obs.outcome.retryable, outcome=obs.attempt_outcome, limit_hit=obs.limit_hit),
        RetryPolicy(**c.retry), budget=_budget(c), now=time.time(), rand=random.random(),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    error = f"{obs.error_type}: {obs.outcome.error}" if obs.error_type else obs.outcome.error
    if choice.action == "retry":
        if not transitions.retry(c.task_id, c.token, choice.delay, error):
            return "", []
        outcome = _close_attempt(c, obs, obs.attempt_outcome)
        _record_choice(c, choice)
        return outcome, [Ready(c.task_id, c.token, c.queue, c.priority, choice.delay)]
    if not transitions.fail(c.task_id, c.token, error):
        return "", []
    outcome = _close_attempt(c, obs, obs.attempt_outcome)
    _record_choice(c, choice)
    return outcome, fail_for_good(c.job_id, c.task_id, choice, has_dependents=_has_dependents(c),
                                  parent_id=c.parent_id)


def _record_choice(c: Claimed, choice: Choice) -> None:
    action = {"retry": DecisionAction.RETRY, "fail": DecisionAction.FAIL}.get(choice.action, DecisionAction.FAIL)
    decide(c.job_id, c.task_id, c.attempt_id, action, choice.reason, choice.policy, choice.observation)


def _budget(c: Claimed) -> Budget:
    return job_budget(c.job_id, max_attempts=c.job_max_attempts, max_cost=c.job_max_cost, deadline=c.job_deadline)


def _cancel_or_discard(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    """The outcome could not be applied: either a cancel came in while it ran, or the lease was lost."""
    if transitions.cancel_running(c.task_id, c.token, "cancel requested while it ran"):
        outcome = _close_attempt(c, obs, obs.attempt_outcome if obs.attempt_outcome != "succeeded" else "cancelled")
        decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                f"attempt {c.token} ended ({obs.attempt_outcome}) after cancel was requested; not run again",
                "cancel.request")
        return outcome, _task_final(c, succeeded=False)
    return _discard(c, obs), []


def _discard(c: Claimed, obs: Observation) -> str:
    """The lease was lost before this worker reported: keep its result on its attempt (the only result an
    attempt row holds: its task never saw it), apply nothing."""
    result = obs.outcome.value if obs.outcome.kind == "success" else None
    outcome = _close_attempt(c, obs, "discarded", result)
    decide(c.job_id, c.task_id, c.attempt_id, DecisionAction.DISCARD_STALE,
            f"attempt {c.token} reported {obs.attempt_outcome} after losing its lease; result not applied",
            "fencing", {"token": c.token})
    return outcome
