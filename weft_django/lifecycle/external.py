"""External claim: an agent outside Celery takes a task over HTTP, renews its lease and reports its outcome.

Fenced exactly like a Celery claim, by reusing it: the agent's claim is ``claim.claim`` on a task it chose
(the attempt row, the lease, the token raised by one, the budget, limits, locks and policy gates at claim), its
renewal is ``transitions.renew_lease`` and its report is ``report.record`` with the attempt's token. What differs
is how the task is found: no message names it; the agent asks for the next queued, due task of a job still
running whose required capabilities its own cover (``capabilities.covers``), of a skill an agent can run.

Which skills: command skills without a workspace (``claimable_skills``). An agent runs its own command line
for a task (``weft_agent``), from its params; a Python skill's code, and an agent skill's worktree and
validation, exist only in a Celery worker. A token is no secret (it counts claims), so every renewal and report
also checks that the attempt is this agent's (``Attempt.worker`` is ``agent:<name>``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Now

from .. import capabilities, registry, transitions
from ..conf import settings
from ..exceptions import LeaseLost
from ..models import Agent, Attempt, Task
from ..outcomes import Observation
from ..states import AttemptOutcome, JobStatus, TaskStatus
from . import claim, ledger, report
from .claim import Claimed

CANDIDATES = 50  # queued tasks tried per claim: a race lost on one moves on to the next
OPEN = (AttemptOutcome.RUNNING, AttemptOutcome.LOST)  # a lost attempt is still its agent's to report, as discarded


def worker_name(agent_name: str) -> str:
    """What an agent's attempts and running tasks name as their worker (never ``name@host``: no worker of this
    host's orphan checks takes it for one of its own processes)."""
    return f"agent:{agent_name}"


def claimable_skills(wanted: Collection[str] | None = None) -> list[str]:
    """The skills an agent may claim tasks of (``wanted``: of those only): command skills without a workspace."""
    names = [d.name for d in registry.all_skills() if d.kind == "command" and d.workspace is None]
    return [n for n in names if wanted is None or n in wanted]


def candidates(has: Collection[str], skills: Collection[str], limit: int = CANDIDATES) -> list[tuple[int, int]]:
    """(task id, token) of the queued, due tasks of these skills whose requirements ``has`` covers, first first."""
    rows = Task.objects.filter(Q(not_before__isnull=True) | Q(not_before__lte=Now()), status=TaskStatus.QUEUED,
                               skill_name__in=list(skills), job__status=JobStatus.RUNNING)
    if connection.vendor == "postgresql":  # jsonb <@: the database skips what the agent cannot do
        rows = rows.filter(capabilities__contained_by=sorted(has))
    picked = rows.order_by("priority", "dispatched_at", "pk").values_list("pk", "attempts", "capabilities")[:limit]
    return [(pk, token) for pk, token, required in picked if capabilities.covers(has, required or ())]


def claim_next(agent_id: int, name: str, has: Collection[str], skills: Collection[str] | None,
               pid: int | None) -> Claimed | None:
    """Claim the first task the agent can do (as a Celery worker claims its message's); None if there is none."""
    found = None
    names = claimable_skills(skills)
    for task_id, token in candidates(has, names) if names else ():
        found = claim.claim(task_id, token, worker=worker_name(name), pid=pid)
        if found is not None:
            break
    Agent.objects.filter(pk=agent_id).update(last_heartbeat=Now(), **(
        {"current_task_id": found.task_id} if found is not None else {}))
    return found


def _attempt(name: str, task_id: int, token: int) -> dict[str, Any]:
    """The agent's open attempt ``token`` of the task; LeaseLost if it is not open or not this agent's."""
    row = Attempt.objects.filter(task_id=task_id, number=token).values("pk", "worker", "outcome").first()
    if row is None or row["worker"] != worker_name(name):
        raise LeaseLost(task_id, token, f"agent {name!r} holds no attempt {token} of it")
    if row["outcome"] not in OPEN:
        raise LeaseLost(task_id, token, f"the attempt is closed ({row['outcome']})")
    return dict(row)


def renew(agent_id: int, name: str, task_id: int, token: int, output: tuple[str, str] | None) -> dict[str, Any]:
    """Renew the lease of the agent's attempt ``token``; its output so far (stdout, stderr tails) is shown live.
    Returns the lease's new end and whether a cancel was requested; LeaseLost once another lease is current."""
    attempt = _attempt(name, task_id, token)
    Agent.objects.filter(pk=agent_id).update(last_heartbeat=Now())
    renewed = transitions.renew_lease(task_id, token, settings.LEASE_SECONDS)
    row = Task.objects.filter(pk=task_id).values("status", "attempts", "cancel_requested", "lease_expires_at").first()
    if row is None or row["status"] != TaskStatus.RUNNING or row["attempts"] != token:
        now = f"{row['status']}, attempt {row['attempts']}" if row else "deleted"
        raise LeaseLost(task_id, token, f"the task is no longer running under this attempt (now {now})")
    if output is not None:
        ledger.write_live_output(attempt["pk"], *output)
    # A cancel request stops renewals (transitions refuse to keep a cancelled task alive): the agent stops.
    return {"renewed": renewed, "cancel_requested": row["cancel_requested"],
            "lease_expires_at": row["lease_expires_at"]}


def record(agent_id: int, name: str, task_id: int, token: int, obs: Observation) -> str:
    """Report the outcome of the agent's attempt ``token``, fenced on it (``report.record``): returns the outcome
    the attempt was closed with. A lost lease closes the attempt ``discarded`` (its result kept there, nothing
    applied) and raises LeaseLost."""
    attempt = _attempt(name, task_id, token)
    row = Task.objects.filter(pk=task_id).values(*claim.CLAIM_FIELDS).first()
    if row is None:
        raise LeaseLost(task_id, token, "the task was deleted")
    held = Claimed(task_id=task_id, token=token, attempt_id=attempt["pk"],
                   **{f: row[f] for f in claim.TASK_FIELDS if f != "has_dependencies"},
                   job_max_attempts=row["job__max_attempts"], job_max_cost=row["job__max_cost"],
                   job_deadline=row["job__deadline"])
    closed, _ = report.record(held, obs)
    Agent.objects.filter(pk=agent_id, current_task_id=task_id).update(current_task=None, last_heartbeat=Now())
    if closed == AttemptOutcome.DISCARDED:
        raise LeaseLost(task_id, token, "another lease is current (the sweep recovered the task, or another claim "
                                        "took it); the result is kept on the attempt, discarded, not applied")
    return closed
