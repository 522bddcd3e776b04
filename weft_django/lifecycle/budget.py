"""A job's budget (attempts, cost, tokens, deadline): what is left, and the one rule for running out of it.

The claim asks whether another attempt may start (``refusal``); a failure, reported or found lost, asks
what is left for the decider (``left``) and ends through ``fail_for_good``; a cost, once added, is checked
by ``check_cost``; tokens are counted as they are spent (``spend``: an LLM call, a loop's report), so
a running agent is stopped by them. An exhausted budget ends the job ``stopped`` (docs/jobs.md), never
``failed``, with a decision whose reason names the budget.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import transaction
from django.db.models import F

from ..deciders import Budget, Choice
from ..handoff import Ready
from ..models import Attempt, Job
from . import graph


def left(job_id: int, *, max_attempts: int | None, max_cost: float | None, deadline: datetime | None,
         cost: float | None = None, max_tokens: int | None = None, tokens: int | None = None) -> Budget:
    """What a job has left for the failure decider. ``cost`` and ``tokens``: what the job spent, if the caller
    read it."""
    attempts_left = None if max_attempts is None else max_attempts - Attempt.objects.filter(job_id=job_id).count()
    cost_left = None
    if max_cost is not None:
        spent = Job.objects.values_list("cost", flat=True).get(pk=job_id) if cost is None else cost
        cost_left = max_cost - spent
    tokens_left = None
    if max_tokens is not None:
        used = Job.objects.values_list("tokens", flat=True).get(pk=job_id) if tokens is None else tokens
        tokens_left = max_tokens - used
    return Budget(attempts_left=attempts_left, cost_left=cost_left,
                  deadline=deadline.timestamp() if deadline else None, tokens_left=tokens_left)


def refusal(job_id: int, key: str, *, max_attempts: int | None, deadline: datetime | None,
            max_tokens: int | None = None) -> str | None:
    """Why the job may not start another attempt of task ``key``, or None. Locks the job row so that
    concurrent claims count right."""
    if deadline is not None and deadline.timestamp() <= time.time():
        return f"deadline passed ({deadline.isoformat()}) before task {key!r} could start"
    if max_tokens is not None:
        used = Job.objects.values_list("tokens", flat=True).get(pk=job_id)
        if used >= max_tokens:
            return tokens_used_up(used, max_tokens)
    if max_attempts is not None:
        Job.objects.select_for_update().filter(pk=job_id).values_list("pk").first()
        used = Attempt.objects.filter(job_id=job_id).count()
        if used >= max_attempts:
            return f"attempt budget used up: {used} of {max_attempts} attempts"
    return None


def check_cost(job_id: int, max_cost: float | None) -> None:
    """After a cost was added: stop the job if it spent its cost budget."""
    if max_cost is None:
        return
    spent = Job.objects.values_list("cost", flat=True).get(pk=job_id)
    if spent >= max_cost:
        graph.stop_job(job_id, f"cost budget used up: {spent:g} of {max_cost:g}")


def tokens_used_up(used: int, limit: int) -> str:
    """The reason a job's token budget stops it, as every adapter shows it."""
    return f"token budget used up: {used:,} of {limit:,} tokens"


def spend(job_id: int, tokens: int = 0) -> str:
    """Count ``tokens`` spent by the job (an LLM call, a loop's report) as they are spent, and say why the job
    can go on no further, or "": it ended, or this used up its ``max_tokens``, or its deadline passed (a loop
    asks before each iteration). The last two stop it here, naming the budget (its running tasks are asked to
    stop)."""
    with transaction.atomic():
        if tokens > 0:
            Job.objects.filter(pk=job_id).update(tokens=F("tokens") + int(tokens))
        row = Job.objects.filter(pk=job_id).values("status", "stop_reason", "tokens", "max_tokens", "deadline").first()
        if row is None:
            return ""
        if row["status"] != "running":
            return row["stop_reason"] or f"the job {row['status']}"
        why = ""
        if row["max_tokens"] is not None and row["tokens"] >= row["max_tokens"]:
            why = tokens_used_up(row["tokens"], row["max_tokens"])
        elif row["deadline"] is not None and row["deadline"].timestamp() <= time.time():
            why = f"deadline passed ({row['deadline'].isoformat()})"
        if why:
            graph.stop_job(job_id, why)
    return why


def fail_for_good(job_id: int, task_id: int, choice: Choice, *, has_dependents: bool,
                  parent_id: int | None) -> list[Ready]:
    """A task failed and will not run again (its failure and decision are written). When the job's budget is
    why (the decider chose ``stop_job``), the job is stopped before the failure is counted, so an exhausted
    budget ends it ``stopped``, whether an attempt reported it or the sweep found the attempt lost."""
    if choice.action == "stop_job":
        graph.stop_job(job_id, choice.reason)
    return graph.task_final(job_id, task_id, succeeded=False, has_dependents=has_dependents, parent_id=parent_id)

