"""The audit trail's one writer: every decision row, every close of an attempt, every policy decision
record and every audit entry (what a person did) goes through here.

A decision says what was chosen for a task or a job and why (the reason a person reads, the policy that
chose it, what was observed); an attempt's close says how one try ended. The event modules decide and
call these; the PostgreSQL fast version of a success (report.py) closes its attempt and writes its
decisions with the SQL fragments below, built from the same column list and reason texts as the ORM
versions, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models.functions import Now

from ..models import Attempt, AuditEntry, Decision, Iteration, LlmCall, PolicyDecision, Task
from ..outcomes import Observation
from ..states import AttemptOutcome, DecisionAction, TaskStatus
from ..storable import clean_text

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


# ---- policy decision records and the audit of what people did ----


def policy_records(rows: Iterable[PolicyDecision]) -> None:
    """Write what policies did (built with ``PolicyDecision(...)``, not saved): a refusal (no job), a change
    or a hold (linked to the job and the task)."""
    PolicyDecision.objects.bulk_create(list(rows))


def held_by_policy(task_ids: Sequence[int]) -> set[int]:
    """Those of ``task_ids`` a policy held for approval at submission (they wait for it at first readiness)."""
    return set(PolicyDecision.objects.filter(task_id__in=task_ids, outcome="held", job__isnull=False)
               .values_list("task_id", flat=True))


def audit(action: str, via: str, actor_id: int | None, actor_name: str, *, job_id: int | None = None,
          task_id: int | None = None, target: str = "", detail: Mapping[str, Any] | None = None) -> AuditEntry:
    """Record what someone did (``actor_name``: who; ``via``: admin, api, command or code)."""
    return AuditEntry.objects.create(action=action, via=via, actor_id=actor_id, actor_name=actor_name[:200],
                                     job_id=job_id, task_id=task_id, target=target[:300], detail=dict(detail or {}))


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


def write_live_output(attempt_id: int, stdout: str, stderr: str) -> bool:
    """A running attempt's output so far (tails, made storable): shown while it runs; its close writes the
    final tails. Fenced on the attempt still running: a lost or closed attempt is never written again."""
    return bool(Attempt.objects.filter(pk=attempt_id, outcome=AttemptOutcome.RUNNING).update(
        stdout=clean_text(stdout), stderr=clean_text(stderr)))


# ---- a loop's iterations ----


def write_iteration(task_id: int, token: int, **fields: Any) -> bool:
    """Record one iteration of a loop (``fields``: number, of, job_id, attempt_id, summary, passed, validation,
    tokens, cost, duration), fenced on the attempt's token like every write of an attempt: nothing is written,
    and False returned, once the lease is lost or if that number is already recorded."""
    with transaction.atomic():
        if not Task.objects.filter(pk=task_id, attempts=token, status=TaskStatus.RUNNING).select_for_update().exists():
            return False
        number = fields.pop("number")
        return Iteration.objects.get_or_create(task_id=task_id, number=number, defaults=fields)[1]


def write_llm_call(**fields: Any) -> None:
    """Record a call to a model as soon as it returns (not fenced: its tokens were spent whatever becomes of
    the attempt)."""
    LlmCall.objects.create(**fields)


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


# ---- the same, for a chunk of successes (batch.SUCCEED_MANY) ----

# ``i``: the reported attempts (task, attempt, reason and the OBSERVED columns); ``t``: the tasks the statement
# succeeded; ``j``: their jobs after counting down.
SQL_CLOSE_SUCCEEDED_MANY = "UPDATE weft_attempt AS a SET outcome = 'succeeded', finished_at = now(), " + ", ".join(
    f"{name} = i.{name}" for name in OBSERVED) + " FROM i WHERE a.id = i.attempt AND i.task IN (SELECT id FROM t)"

SQL_SUCCEED_MANY_DECISIONS = f"""
    -- Ordered: each task's decision in task order, then the decision of each job that ended, as one by one.
    INSERT INTO weft_decision (job_id, task_id, attempt_id, action, policy, observation, reason, created_at)
    SELECT job_id, task_id, attempt_id, action, policy, '{{}}'::jsonb, reason, now()
    FROM (
        SELECT 1 AS ord, t.id AS sub, t.job_id, t.id AS task_id, i.attempt AS attempt_id,
               '{DecisionAction.SUCCEED.value}' AS action, '{SUCCEEDED_POLICY}' AS policy, i.reason
        FROM t JOIN i ON i.task = t.id
        UNION ALL
        SELECT 2, id, id, NULL, NULL, '{DecisionAction.FINISH_JOB.value}', '{JOB_COMPLETE_POLICY}',
               '{job_complete_reason("")}' || status
        FROM j WHERE tasks_open = 0 AND status IN ('succeeded', 'failed') AND tasks_total > 1
    ) AS x
    ORDER BY ord, sub
"""
