"""decide_failure and backoff_delay: exact reasons, and properties that hold for every input."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from weft_django.deciders import DEFAULT_LIMIT_POLICY, Budget, Failure, backoff_delay, decide_failure
from weft_django.spec import RetryPolicy

NOW = 1_700_000_000.0
NO_BUDGET = Budget()

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 50),
    backoff=st.floats(0.001, 1000, allow_nan=False),
    factor=st.floats(1, 10, allow_nan=False),
    max_delay=st.floats(0.001, 100_000, allow_nan=False),
    jitter=st.floats(0, 1, allow_nan=False),
)
rands = st.floats(0, 1, exclude_max=True, allow_nan=False)
attempts = st.integers(1, 5000)


def fail(attempt: int = 1, error_type: str = "TimeoutError", *, retryable: bool = True, outcome: str = "failed",
         limit_hit: str = "") -> Failure:
    return Failure(attempt=attempt, error_type=error_type, retryable=retryable, outcome=outcome, limit_hit=limit_hit)


# ---------------------------------------------------------------- backoff_delay


def test_backoff_delay__exponential_without_jitter() -> None:
    policy = RetryPolicy(backoff=1.0, factor=2.0, max_delay=300.0, jitter=0.0)
    assert [backoff_delay(policy, n, 0.5) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_backoff_delay__jitter_spreads_around_the_base() -> None:
    policy = RetryPolicy(backoff=10.0, factor=2.0, max_delay=300.0, jitter=0.1)
    assert backoff_delay(policy, 1, 0.0) == 9.0
    assert backoff_delay(policy, 1, 0.5) == 10.0
    assert backoff_delay(policy, 1, 0.75) == 10.5


def test_backoff_delay__jitter_never_pushes_past_the_cap() -> None:
    policy = RetryPolicy(backoff=300.0, max_delay=300.0, jitter=0.5)
    assert backoff_delay(policy, 1, 0.999) == 300.0


def test_backoff_delay__huge_attempt_numbers_stay_at_the_cap() -> None:
    # 2.0 ** 1100 overflows a float; the delay must still be the cap, not an OverflowError
    policy = RetryPolicy(max_attempts=10_000, backoff=1.0, factor=2.0, max_delay=60.0, jitter=0.0)
    assert backoff_delay(policy, 1100, 0.5) == 60.0
    assert backoff_delay(RetryPolicy(factor=1e300, max_delay=5.0, jitter=0.0), 3, 0.5) == 5.0


@given(policies, rands, st.integers(1, 2000))
def test_backoff_delay__never_decreases_as_the_attempt_grows(policy: RetryPolicy, rand: float, n: int) -> None:
    assert backoff_delay(policy, n, rand) <= backoff_delay(policy, n + 1, rand)


@given(policies, rands, attempts)
def test_backoff_delay__never_exceeds_max_delay_and_is_never_negative(
        policy: RetryPolicy, rand: float, n: int) -> None:
    assert 0 <= backoff_delay(policy, n, rand) <= round(policy.max_delay, 3)


# ---------------------------------------------------------------- decide_failure: exact reasons


def test_decide_failure__retry_reason_names_attempt_error_and_delay() -> None:
    policy = RetryPolicy(max_attempts=5, backoff=2.1, factor=2.0, jitter=0.0)
    choice = decide_failure(fail(2), policy, budget=NO_BUDGET, now=NOW, rand=0.5)
    assert choice.action == "retry"
    assert choice.reason == "attempt 2 of 5 failed with TimeoutError; retrying in 4.2 s"
    assert choice.policy == "retry.backoff"
    assert choice.delay == 4.2
    assert choice.observation == {"attempt": 2, "max_attempts": 5, "error_type": "TimeoutError",
                                  "outcome": "failed", "delay": 4.2}


def test_decide_failure__last_attempt_fails() -> None:
    choice = decide_failure(fail(3, "ValueError"), RetryPolicy(max_attempts=3), budget=NO_BUDGET, now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("fail", "retry.max_attempts")
    assert choice.reason == "attempt 3 of 3 failed with ValueError; no attempts left"
    assert choice.delay == 0.0


def test_decide_failure__non_retryable_fails_at_once() -> None:
    choice = decide_failure(fail(1, "NonRetryable", retryable=False), RetryPolicy(max_attempts=5),
                            budget=NO_BUDGET, now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("fail", "retry.non_retryable")
    assert choice.reason == "attempt 1 of 5 failed with NonRetryable; the error is not retryable"


def test_decide_failure__timed_out_and_lost_are_described() -> None:
    policy = RetryPolicy(max_attempts=2, backoff=1.0, jitter=0.0)
    timed_out = decide_failure(fail(1, "Timeout", outcome="timed_out"), policy, budget=NO_BUDGET, now=NOW, rand=0)
    assert timed_out.reason == "attempt 1 of 2 timed out; retrying in 1.0 s"
    lost = decide_failure(fail(2, "Lost", outcome="lost"), policy, budget=NO_BUDGET, now=NOW, rand=0)
    assert lost.reason == "attempt 2 of 2 was lost (its lease expired); no attempts left"


def test_decide_failure__memory_limit_fails_by_default() -> None:
    choice = decide_failure(fail(1, "LimitExceeded", outcome="killed", limit_hit="memory_mb"),
                            RetryPolicy(max_attempts=5), budget=NO_BUDGET, now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("fail", "limits.policy")
    assert choice.reason == "attempt 1 of 5 was killed at its memory_mb limit; the limit policy for memory_mb is fail"
    assert choice.observation["limit_hit"] == "memory_mb"


def test_decide_failure__wall_seconds_limit_retries_by_default() -> None:
    choice = decide_failure(fail(1, "LimitExceeded", outcome="killed", limit_hit="wall_seconds"),
                            RetryPolicy(max_attempts=5, backoff=1.0, jitter=0.0), budget=NO_BUDGET, now=NOW, rand=0.5)
    assert choice.action == "retry"
    assert choice.reason == "attempt 1 of 5 was killed at its wall_seconds limit; retrying in 1.0 s"


def test_decide_failure__limit_policy_override() -> None:
    policy = RetryPolicy(max_attempts=5)
    memory = fail(1, "LimitExceeded", outcome="killed", limit_hit="memory_mb")
    wall = fail(1, "LimitExceeded", outcome="killed", limit_hit="wall_seconds")
    override = {**DEFAULT_LIMIT_POLICY, "memory_mb": "retry", "wall_seconds": "fail"}
    assert decide_failure(memory, policy, budget=NO_BUDGET, now=NOW, rand=0.5,
                          limit_policy=override).action == "retry"
    assert decide_failure(wall, policy, budget=NO_BUDGET, now=NOW, rand=0.5, limit_policy=override).action == "fail"
    # a limit the policy does not mention fails
    unknown = fail(1, "LimitExceeded", outcome="killed", limit_hit="gpu")
    assert decide_failure(unknown, policy, budget=NO_BUDGET, now=NOW, rand=0.5).action == "fail"


def test_decide_failure__job_attempt_budget_used_up_stops_the_job() -> None:
    choice = decide_failure(fail(1), RetryPolicy(max_attempts=5), budget=Budget(attempts_left=0), now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("stop_job", "budget.max_attempts")
    assert choice.reason == "attempt 1 of 5 failed with TimeoutError; the job's attempt budget is used up"


def test_decide_failure__job_cost_budget_used_up_stops_the_job() -> None:
    choice = decide_failure(fail(1), RetryPolicy(max_attempts=5), budget=Budget(cost_left=-0.5), now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("stop_job", "budget.max_cost")
    assert choice.reason.endswith("; the job's cost budget is used up")


def test_decide_failure__job_deadline_passed_stops_the_job() -> None:
    choice = decide_failure(fail(1), RetryPolicy(max_attempts=5), budget=Budget(deadline=NOW), now=NOW, rand=0.5)
    assert (choice.action, choice.policy) == ("stop_job", "budget.deadline")
    assert choice.reason == "attempt 1 of 5 failed with TimeoutError; the job deadline has passed"


def test_decide_failure__retry_that_would_pass_the_task_deadline_fails() -> None:
    policy = RetryPolicy(max_attempts=5, backoff=10.0, jitter=0.0)
    choice = decide_failure(fail(1), policy, budget=NO_BUDGET, now=NOW, rand=0.5, task_deadline=NOW + 5)
    assert (choice.action, choice.policy) == ("fail", "retry.deadline")
    assert choice.reason == "attempt 1 of 5 failed with TimeoutError; a retry in 10.0 s would pass the task deadline"
    assert choice.observation["deadline_in"] == 5.0


def test_decide_failure__retry_that_would_pass_the_job_deadline_fails() -> None:
    policy = RetryPolicy(max_attempts=5, backoff=10.0, jitter=0.0)
    choice = decide_failure(fail(1), policy, budget=Budget(deadline=NOW + 9.5), now=NOW, rand=0.5)
    assert choice.reason.endswith("a retry in 10.0 s would pass the job deadline")
    assert choice.action in ("fail", "stop_job")


def test_decide_failure__budget_left_allows_retry() -> None:
    choice = decide_failure(fail(1), RetryPolicy(max_attempts=5, jitter=0.0),
                            budget=Budget(attempts_left=1, cost_left=0.1, deadline=NOW + 60), now=NOW, rand=0.5)
    assert choice.action == "retry"


# ---------------------------------------------------------------- decide_failure: properties

budgets = st.builds(
    Budget,
    attempts_left=st.none() | st.integers(-2, 20),
    cost_left=st.none() | st.floats(-10, 10, allow_nan=False),
    deadline=st.none() | st.floats(NOW - 100, NOW + 100_000, allow_nan=False),
)
failures = st.builds(
    Failure,
    attempt=attempts,
    error_type=st.sampled_from(["ValueError", "TimeoutError", "Lost"]),
    retryable=st.booleans(),
    outcome=st.sampled_from(["failed", "timed_out", "killed", "lost"]),
    limit_hit=st.sampled_from(["", "memory_mb", "wall_seconds", "cpu_percent", "open_files"]),
)


@given(failures, policies, budgets, rands, st.none() | st.floats(NOW - 100, NOW + 100_000, allow_nan=False))
def test_decide_failure__every_choice_respects_every_limit(
        failure: Failure, policy: RetryPolicy, budget: Budget, rand: float, task_deadline: float | None) -> None:
    choice = decide_failure(failure, policy, budget=budget, now=NOW, rand=rand, task_deadline=task_deadline)
    assert choice.action in ("retry", "fail", "stop_job")
    assert choice.reason.startswith(f"attempt {failure.attempt} of {policy.max_attempts} ")
    if choice.action != "retry":
        assert choice.delay == 0.0
        return
    assert failure.attempt < policy.max_attempts
    assert failure.retryable
    assert not failure.limit_hit or DEFAULT_LIMIT_POLICY[failure.limit_hit] == "retry"
    assert choice.delay == backoff_delay(policy, failure.attempt, rand) <= round(policy.max_delay, 3)
    for deadline in (task_deadline, budget.deadline):
        assert deadline is None or NOW + choice.delay < deadline
    assert budget.attempts_left is None or budget.attempts_left > 0
    assert budget.cost_left is None or budget.cost_left > 0
    assert choice.reason.endswith(f"; retrying in {choice.delay:.1f} s")


@given(failures, policies, rands)
def test_decide_failure__never_retries_at_or_past_max_attempts(
        failure: Failure, policy: RetryPolicy, rand: float) -> None:
    last = replace(failure, attempt=policy.max_attempts + failure.attempt - 1)
    assert decide_failure(last, policy, budget=NO_BUDGET, now=NOW, rand=rand).action == "fail"


@given(failures, policies, rands)
def test_decide_failure__non_retryable_never_retries(failure: Failure, policy: RetryPolicy, rand: float) -> None:
    fatal = replace(failure, retryable=False)
    assert decide_failure(fatal, policy, budget=NO_BUDGET, now=NOW, rand=rand).action == "fail"


@given(failures, policies, rands, st.integers(-5, 0))
def test_decide_failure__exhausted_attempt_budget_never_retries(
        failure: Failure, policy: RetryPolicy, rand: float, left: int) -> None:
    choice = decide_failure(failure, policy, budget=Budget(attempts_left=left), now=NOW, rand=rand)
    # A task that would retry stops the job instead; one that fails for good just fails (and so its job).
    would_retry = decide_failure(failure, policy, budget=NO_BUDGET, now=NOW, rand=rand).action == "retry"
    assert choice.action == ("stop_job" if would_retry else "fail")


def test_decide_failure__a_failure_that_stops_its_job_stops_it_with_its_own_reason() -> None:
    loop_out = replace(fail(retryable=False), message="loop stopped: 20 of 20 iterations used", stops_job=True)
    choice = decide_failure(loop_out, RetryPolicy(max_attempts=5), budget=Budget(), now=0.0, rand=0.5)
    assert (choice.action, choice.reason, choice.policy) == (
        "stop_job", "loop stopped: 20 of 20 iterations used", "outcome.stops_job")
