"""The audit trail's one writer: every decision row and every close of an attempt goes through here.

A decision says what was chosen for a task or a job and why (the reason a person reads, the policy that
chose it, what was observed); an attempt's close says how one try ended. The event modules decide and
call these; the PostgreSQL fast version of a success (report.py) closes its attempt and writes its
decisions with the SQL fragments below, built from the same column list and reason texts as the ORM
versions, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db.models.functions import Now

from ..models import Attempt, Decision
from ..outcomes import Observation
from ..states import AttemptOutcome, DecisionAction

# ---- decisions ----


def write(job_id: int, task_id: int | None, attempt_id: int | None, action: str, reason: str,
           policy: str = "", observation: Mapping[str, Any] | None = None) -> Decision:
    """Write one decision row."""
    return Decision.objects.create(job_id=job_id, task_id=task_id, attempt_id=attempt_id, action=action,
                                   reason=reason, policy=policy, observation=dict(observation or {}))


def write_many(rows: Iterable[Decision]) -> None:
    """Write many decision rows at once (built with ``Decision(...)``, not saved)."""
    Decision.objects.bulk_create(list(rows))


def awaiting_approval(job_id: int, tasks: Sequence[tuple[int, str]]) -> None:
    """The block decisions of tasks (id, skill name) that now wait for someone's approval."""
    write_many(Decision(job_id=job_id, task_id=pk, action=DecisionAction.BLOCK, policy="approval.required",
                         reason=f"awaiting approval: skill {name!r} requires it", observation={})
                for pk, name in tasks)


def rate_deferred(job_id: int, tasks: Sequence[tuple[int, str, Mapping[str, str]]]) -> None:
    """The defer decisions of new tasks (id, "rate limited until ...", their rates) held to their moments."""
    write_many(Decision(job_id=job_id, task_id=pk, action=DecisionAction.DEFER, policy="limit.rate",
                        reason=f"{until} ({', '.join(f'{k} at {v}' for k, v in sorted(rates.items()))}); "
                               "sent then", observation={"rates": dict(rates)})
               for pk, until, rates in tasks)


# The policies and the job's reason text both versions of a success write (report.py words the task's).
SUCCEEDED_POLICY = "outcome.success"
JOB_COMPLETE_POLICY = "job.complete"


def job_complete_reason(status: str) -> str:
    return f"every task is final; the job {status}"


# ---- attempts ----

# What an attempt's close copies from the observation, in both versions.
OBSERVED = ("duration", "exit_code", "stdout", "stderr", "peak_rss_mb", "cpu_seconds", "peak_open_files")


def observed(obs: Observation) -> dict[str, Any]:
    return {name: getattr(obs, name) for name in OBSERVED}


def close(attempt_id: int, obs: Observation, outcome: str, result: Any = None) -> str:
    """Close the attempt as ``outcome``; returns it. ``result`` only for a result that was not applied: an
    applied one lives on its task alone (a result is stored once)."""
    o = obs.outcome
    Attempt.objects.filter(pk=attempt_id).update(
        outcome=outcome, finished_at=Now(), **observed(obs), error_type=obs.error_type,
        error_message=o.error or o.reason, traceback=obs.traceback, result=result, limit_hit=obs.limit_hit,
        cost=o.cost,
    )
    return outcome


def close_lost(attempt_id: int | None, error_type: str, detail: str) -> None:
    """The attempt's process is gone (its lease expired, or it was seen dead): it ends ``lost``."""
    if attempt_id is not None:
        Attempt.objects.filter(pk=attempt_id, outcome=AttemptOutcome.RUNNING).update(
            outcome=AttemptOutcome.LOST, finished_at=Now(), error_type=error_type, error_message=detail)


# ---- the same writes, as fragments of report.py's single statement ----

# ``t``: the task row the statement just succeeded (id, job_id); ``j``: its job's row after counting down.
SQL_CLOSE_SUCCEEDED = "UPDATE weft_attempt SET outcome = 'succeeded', finished_at = now(), " + ", ".join(
    f"{name} = %({name})s" for name in OBSERVED) + " WHERE id = %(attempt)s AND EXISTS (SELECT 1 FROM t)"

SQL_SUCCEED_DECISIONS = f"""
    -- One INSERT, ordered, so the succeed decision always precedes the job's (CTEs run in no set order).
    INSERT INTO weft_decision (job_id, task_id, attempt_id, action, policy, observation, reason, created_at)
    SELECT job_id, task_id, attempt_id, action, policy, '{{}}'::jsonb, reason, now()
    FROM (
        SELECT 1 AS ord, job_id, id AS task_id, %(attempt)s::bigint AS attempt_id,
               '{DecisionAction.SUCCEED.value}' AS action, '{SUCCEEDED_POLICY}' AS policy, %(reason)s::text AS reason
        FROM t
        UNION ALL
        SELECT 2, id, NULL, NULL, '{DecisionAction.FINISH_JOB.value}', '{JOB_COMPLETE_POLICY}',
               '{job_complete_reason("")}' || status
        FROM j WHERE tasks_open = 0 AND status IN ('succeeded', 'failed') AND tasks_total > 1
    ) AS x
    ORDER BY ord
"""
