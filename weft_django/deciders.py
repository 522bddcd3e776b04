"""Pure deciders: given what happened and what is left, choose what the engine does next.

Nothing here touches the database or the clock; callers pass ``now`` and a random number so
that every choice is reproducible in tests and explainable from its recorded inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .spec import RetryPolicy

# What to do when an attempt is killed for a resource limit, unless WEFT_LIMIT_POLICY says otherwise.
DEFAULT_LIMIT_POLICY: Mapping[str, str] = {
    "memory_mb": "fail",
    "open_files": "fail",
    "cpu_seconds": "fail",
    "cpu_percent": "retry",
    "wall_seconds": "retry",
}


@dataclass(frozen=True)
class Failure:
    """One attempt that did not succeed, as the decider sees it."""

    attempt: int
    error_type: str
    message: str = ""
    retryable: bool = True
    outcome: str = "failed"  # failed | timed_out | killed | lost
    limit_hit: str = ""
    stops_job: bool = False  # the skill says its job can go no further (a loop out of iterations or budget)


@dataclass(frozen=True)
class Budget:
    """What the job has left; ``None`` means unlimited."""

    attempts_left: int | None = None
    cost_left: float | None = None
    deadline: float | None = None  # epoch seconds
    tokens_left: int | None = None


@dataclass(frozen=True)
class Choice:
    """A decision before it is recorded: the action, the numbers it used and a plain reason."""

    action: str  # retry | fail | stop_job
    reason: str
    policy: str
    observation: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0


def backoff_delay(policy: RetryPolicy, attempt: int, rand: float) -> float:
    """Delay before attempt ``attempt + 1``: exponential, jittered by ``rand`` in [0, 1), capped."""
    try:
        grown = policy.backoff * float(policy.factor) ** max(0, attempt - 1)
    except OverflowError:  # factor ** n leaves the float range (2.0 ** 1024) long after the cap is reached
        grown = policy.max_delay
    base = min(policy.max_delay, grown)
    jittered = base * (1 + policy.jitter * (2 * rand - 1))
    return round(max(0.0, min(policy.max_delay, jittered)), 3)


def decide_failure(
    failure: Failure,
    policy: RetryPolicy,
    *,
    budget: Budget,
    now: float,
    rand: float,
    limit_policy: Mapping[str, str] = DEFAULT_LIMIT_POLICY,
    task_deadline: float | None = None,
) -> Choice:
    """Retry with backoff while the policy, the task deadline and the job budget allow; else fail or stop."""
    what = _describe(failure, policy)
    obs: dict[str, Any] = {
        "attempt": failure.attempt,
        "max_attempts": policy.max_attempts,
        "error_type": failure.error_type,
        "outcome": failure.outcome,
    }
    if failure.limit_hit:
        obs["limit_hit"] = failure.limit_hit
    if failure.stops_job:
        return Choice("stop_job", failure.message, "outcome.stops_job", obs)
    if not failure.retryable:
        return Choice("fail", f"{what}; the error is not retryable", "retry.non_retryable", obs)
    if failure.limit_hit and limit_policy.get(failure.limit_hit, "fail") != "retry":
        return Choice(
            "fail", f"{what}; the limit policy for {failure.limit_hit} is fail", "limits.policy", obs
        )
    if failure.attempt >= policy.max_attempts:
        return Choice("fail", f"{what}; no attempts left", "retry.max_attempts", obs)
    # The job's budget only matters when the task itself would run again: a task that fails for good
    # fails its job; one that could retry but may not stops the job.
    if budget.deadline is not None and now >= budget.deadline:
        return Choice("stop_job", f"{what}; the job deadline has passed", "budget.deadline", obs)
    if budget.attempts_left is not None and budget.attempts_left <= 0:
        return Choice("stop_job", f"{what}; the job's attempt budget is used up", "budget.max_attempts", obs)
    if budget.cost_left is not None and budget.cost_left <= 0:
        return Choice("stop_job", f"{what}; the job's cost budget is used up", "budget.max_cost", obs)
    if budget.tokens_left is not None and budget.tokens_left <= 0:
        return Choice("stop_job", f"{what}; the job's token budget is used up", "budget.max_tokens", obs)
    delay = backoff_delay(policy, failure.attempt, rand)
    obs["delay"] = delay
    for name, deadline in (("task", task_deadline), ("job", budget.deadline)):
        if deadline is not None and now + delay >= deadline:
            obs["deadline_in"] = round(deadline - now, 3)
            # The job's deadline ends the whole job; a task's own deadline ends only the task.
            action, rule = ("stop_job", "budget.deadline") if name == "job" else ("fail", "retry.deadline")
            return Choice(action, f"{what}; a retry in {delay:.1f} s would pass the {name} deadline", rule, obs)
    return Choice("retry", f"{what}; retrying in {delay:.1f} s", "retry.backoff", obs, delay)


def _describe(failure: Failure, policy: RetryPolicy) -> str:
    verb = {
        "timed_out": "timed out",
        "killed": f"was killed at its {failure.limit_hit or 'resource'} limit",
        "lost": "was lost (its lease expired)",
    }.get(failure.outcome, f"failed with {failure.error_type}")
    return f"attempt {failure.attempt} of {policy.max_attempts} {verb}"
