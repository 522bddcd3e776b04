"""Report: an attempt ended; close it, decide what follows, and apply that, in one transaction.

Every write is fenced on the attempt's token: a worker that lost its lease changes nothing but its own
attempt (closed ``discarded``). Success, failure (retry or fail, by the pure decider) and cancel are
here; the outcomes that add tasks (decompose, needs) are in expand.py. ``_succeed_fast`` is the common
success as one PostgreSQL statement; the ORM version handles every other case.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from .. import signals, transitions
from ..conf import settings
from ..deciders import DEFAULT_LIMIT_POLICY, Choice, Failure, decide_failure
from ..handoff import Ready, after_commit
from ..models import Artifact
from ..outcomes import Observation
from ..spec import RetryPolicy
from ..states import DecisionAction
from ..storable import storable
from . import admission, budget, expand, graph, ledger, pg
from .claim import Claimed


def record(c: Claimed, obs: Observation) -> tuple[str, str]:
    """Close the attempt, decide, and apply the decision in one transaction; send what became ready.

    Returns the outcome the attempt was closed with and its error type. The observation is first made
    storable (storable.py): what the database would refuse is cleaned, or refused as a non-retryable failure.
    """
    obs = storable(obs, settings.MAX_RESULT_BYTES)
    o = obs.outcome
    if fast_success(c, obs) and _succeed_fast(c, obs):
        return "succeeded", ""
    ready: list[Ready] = []
    closed = ""  # the outcome the attempt was closed with, once the decision applied
    with transaction.atomic():
        if o.kind != "blocked":
            transitions.add_cost(c.job_id, o.cost)
        if o.kind == "success":
            closed, ready = _succeed(c, obs)
        elif o.kind == "blocked":
            closed, ready = expand.blocked(c, obs)
            # The job row after the tasks a need waits on (rows.add_tasks locks them), as a task that
            # finishes takes them: in the other order the two could deadlock.
            transitions.add_cost(c.job_id, o.cost)
        elif o.kind == "decompose":
            closed, ready = expand.decompose(c, obs)
        elif obs.attempt_outcome == "cancelled":
            if transitions.cancel_running(c.task_id, c.token, "cancelled while running"):
                closed = ledger.close(c.attempt_id, obs, "cancelled")
                ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                             f"attempt {c.token} was interrupted: cancel requested", "cancel.request")
                ready = _final(c, succeeded=False)
        else:
            closed, ready = _fail(c, obs)
        if not closed:
            closed, ready = _cancel_or_discard(c, obs)
        elif o.cost:
            budget.check_cost(c.job_id, c.job_max_cost)
        if c.governed and closed != "discarded":  # it left running: its slots and locks go to who waits
            ready += admission.handoff(c.task_id, c.gates, c.locks)
    after_commit(ready)
    return closed, obs.error_type


def fast_success(c: Claimed, obs: Observation) -> bool:
    """A success the single statement records (``SUCCEED``; a chunk's, ``batch.SUCCEED_MANY``): no cost, no
    artifacts, no dependents seen at the claim, no parent, no limits or locks, on PostgreSQL."""
    o = obs.outcome
    return (o.kind == "success" and not o.cost and not o.artifacts and not c.has_dependents and c.parent_id is None
            and not c.governed and pg.enabled())


def _final(c: Claimed, *, succeeded: bool) -> list[Ready]:
    return graph.after_attempt(c.job_id, c.task_id, succeeded=succeeded, dependents_seen=c.has_dependents,
                               parent_id=c.parent_id)


def _succeed(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    o = obs.outcome
    # Claimed without dependents, it may have gained some while it ran (a need that depends on it): then the
    # first update refuses, and the second, which applies, says it has them.
    deps = c.has_dependents
    if not (transitions.succeed(c.task_id, c.token, o.value, without_dependents=not deps)
            or (not deps and (deps := transitions.succeed(c.task_id, c.token, o.value)))):
        return "", []
    closed = ledger.close(c.attempt_id, obs, "succeeded")
    _keep_artifacts(c, o.artifacts)
    ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.SUCCEED, succeeded_reason(c.token),
                 ledger.SUCCEEDED_POLICY)
    return closed, graph.task_final(c.job_id, c.task_id, succeeded=True, has_dependents=deps, parent_id=c.parent_id)


def _keep_artifacts(c: Claimed, artifacts: Mapping[str, Any]) -> None:
    """What the attempt left to look at: a success's results, a failure's evidence (an agent's diff)."""
    if artifacts:
        Artifact.objects.bulk_create([Artifact(job_id=c.job_id, task_id=c.task_id, attempt_id=c.attempt_id,
                                               name=name, value=value) for name, value in artifacts.items()])


def succeeded_reason(token: int) -> str:
    """The reason on a success's decision, in both versions."""
    return f"attempt {token} succeeded"


def _fail(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    """A failure: the pure decider chooses retry or fail, within the retry policy and the job's budget."""
    choice = decide_failure(
        Failure(attempt=c.token, error_type=obs.error_type or "Error", message=obs.outcome.error,
                retryable=obs.outcome.retryable, outcome=obs.attempt_outcome, limit_hit=obs.limit_hit,
                stops_job=obs.outcome.stops_job),
        RetryPolicy(**c.retry), now=time.time(), rand=random.random(),
        budget=budget.left(c.job_id, max_attempts=c.job_max_attempts, max_cost=c.job_max_cost,
                           deadline=c.job_deadline, max_tokens=c.job_max_tokens),
        limit_policy={**DEFAULT_LIMIT_POLICY, **settings.LIMIT_POLICY},
    )
    error = f"{obs.error_type}: {obs.outcome.error}" if obs.error_type else obs.outcome.error
    if choice.action == "retry":
        if not transitions.retry(c.task_id, c.token, choice.delay, error):
            return "", []
        closed = ledger.close(c.attempt_id, obs, obs.attempt_outcome)
        _keep_artifacts(c, obs.outcome.artifacts)
        _record_choice(c, choice)
        return closed, [Ready(c.task_id, c.token, c.queue, c.priority, choice.delay)]
    if not transitions.fail(c.task_id, c.token, error):
        return "", []
    closed = ledger.close(c.attempt_id, obs, obs.attempt_outcome)
    _keep_artifacts(c, obs.outcome.artifacts)
    _record_choice(c, choice)
    has = c.has_dependents or graph.has_dependents(c.task_id)
    return closed, budget.fail_for_good(c.job_id, c.task_id, choice, has_dependents=has, parent_id=c.parent_id)


def _record_choice(c: Claimed, choice: Choice) -> None:
    action = DecisionAction.RETRY if choice.action == "retry" else DecisionAction.FAIL
    ledger.write(c.job_id, c.task_id, c.attempt_id, action, choice.reason, choice.policy, choice.observation)


def _cancel_or_discard(c: Claimed, obs: Observation) -> tuple[str, list[Ready]]:
    """The outcome could not be applied: either a cancel came in while it ran, or the lease was lost."""
    if transitions.cancel_running(c.task_id, c.token, "cancel requested while it ran"):
        closed = ledger.close(c.attempt_id, obs,
                              obs.attempt_outcome if obs.attempt_outcome != "succeeded" else "cancelled")
        ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.CANCEL,
                     f"attempt {c.token} ended ({obs.attempt_outcome}) after cancel was requested; not run again",
                     "cancel.request")
        return closed, _final(c, succeeded=False)
    # The lease was lost before this worker reported: keep its result on its attempt (the only result an
    # attempt row holds: its task never saw it), apply nothing.
    result = obs.outcome.value if obs.outcome.kind == "success" else None
    closed = ledger.close(c.attempt_id, obs, "discarded", result)
    ledger.write(c.job_id, c.task_id, c.attempt_id, DecisionAction.DISCARD_STALE,
                 f"attempt {c.token} reported {obs.attempt_outcome} after losing its lease; result not applied",
                 "fencing", {"token": c.token})
    return closed, []


# ---- the common success as one PostgreSQL statement ----

SUCCEED = f"""
WITH t AS (
    UPDATE weft_task SET status = 'succeeded', result = %(result)s::jsonb, error = '', finished_at = now(),
                         lease_expires_at = NULL
    WHERE id = %(task)s AND attempts = %(token)s AND (status = 'running') IS TRUE
      -- A need added while the attempt ran may depend on this task (the claim saw no dependents): then the
      -- ORM version runs, which releases it.
      AND NOT has_dependents
    RETURNING id, job_id
), a AS (
    {ledger.SQL_CLOSE_SUCCEEDED}
), j AS (
    UPDATE weft_job
    SET tasks_open = tasks_open - 1,
        status = CASE WHEN status = 'running' AND tasks_open = 1
                      THEN (CASE WHEN tasks_failed = 0 THEN 'succeeded' ELSE 'failed' END) ELSE status END,
        finished_at = CASE WHEN status = 'running' AND tasks_open = 1 THEN now() ELSE finished_at END
    WHERE id = (SELECT job_id FROM t)
    RETURNING id, status, tasks_open, tasks_total
), d AS ({ledger.SQL_SUCCEED_DECISIONS})
SELECT (SELECT count(*) FROM t), (SELECT status FROM j), (SELECT tasks_open FROM j)
"""


def _succeed_fast(c: Claimed, obs: Observation) -> bool:
    """running -> succeeded for a task with no dependents and no parent, as ``_succeed`` does it: closes the
    attempt, records the decision, counts the job down and finishes it if this was its last task. False if
    the fence refused it or the task has dependents now (the caller runs the ORM version)."""
    params: Mapping[str, Any] = {"task": c.task_id, "token": c.token, "attempt": c.attempt_id,
                                 "result": pg.dumps(obs.outcome.value), "reason": succeeded_reason(c.token),
                                 **ledger.observed(obs)}
    applied, status, tasks_open = pg.fetchone(SUCCEED, dict(params))
    if not applied:
        return False
    signals.send_on_commit(signals.task_finished, job_id=c.job_id, task_id=c.task_id, status="succeeded")
    if tasks_open == 0 and status in ("succeeded", "failed"):
        signals.send_on_commit(signals.job_finished, job_id=c.job_id, status=str(status))
    elif tasks_open:
        # Others of its job remain: if none of them can run (blocked, or pending behind blocked ones), this
        # was the last runnable task and the job is stuck. (A one-task job never gets here.)
        with transaction.atomic():
            graph.stop_if_stuck(c.job_id)
    return True
