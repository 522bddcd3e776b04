"""System checks of the WEFT_* tunables: queues, timings, limits, defaults, input bounds, approval, results."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.core import checks

from ..conf import settings
from ..exceptions import WeftError
from ..jobspec import MAX_DEADLINE_DAYS
from ..spec import MAX_INT, QUEUE_RE, Limits, RetryPolicy
from .broker import check_celery_app
from .values import positive


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The WEFT_* tunables (weft.E001-E019), and whether the Celery app can be found (weft.E020, W021)."""
    errors: list[checks.CheckMessage] = []
    if not isinstance(settings.DEFAULT_QUEUE, str) or not QUEUE_RE.match(settings.DEFAULT_QUEUE):
        errors.append(checks.Error(f"WEFT_DEFAULT_QUEUE {settings.DEFAULT_QUEUE!r} is not a valid queue name.",
                                   hint="Use 1-100 letters, digits or _.-", id="weft.E001"))
    for i, name in enumerate(("LEASE_SECONDS", "HEARTBEAT_INTERVAL", "SWEEP_INTERVAL", "REDISPATCH_AFTER",
                              "MONITOR_INTERVAL", "MAX_TIMEOUT"), start=2):
        if not positive(name):
            errors.append(checks.Error(f"WEFT_{name} must be a number of seconds greater than 0 (at most 10**9).",
                                       hint=f"Remove WEFT_{name} to use the default.", id=f"weft.E00{i}"))
    if positive("LEASE_SECONDS") and positive("HEARTBEAT_INTERVAL") and (
            settings.HEARTBEAT_INTERVAL * 3 > settings.LEASE_SECONDS):
        errors.append(checks.Error(
            "WEFT_HEARTBEAT_INTERVAL must be at most a third of WEFT_LEASE_SECONDS.",
            hint="A lease must survive two missed heartbeats; raise the lease or heartbeat more often.",
            id="weft.E008"))
    for name, parse in (("LIMIT_CEILINGS", lambda v: Limits.parse(v, "WEFT_LIMIT_CEILINGS")),
                        ("DEFAULT_RETRY", lambda v: RetryPolicy.parse(v, RetryPolicy(), "WEFT_DEFAULT_RETRY"))):
        try:
            parse(getattr(settings, name))
        except WeftError as exc:
            errors.append(checks.Error(f"WEFT_{name} is invalid: {exc}", hint="See docs/settings.md.",
                                       id="weft.E009" if name == "LIMIT_CEILINGS" else "weft.E010"))
    errors.extend(_check_limit_policy())
    errors.extend(_check_defaults())
    errors.extend(_check_input_bounds())
    errors.extend(check_celery_app())
    return errors


def _check_limit_policy() -> list[checks.CheckMessage]:
    policy = settings.LIMIT_POLICY
    hint = "For example {'memory_mb': 'fail', 'wall_seconds': 'retry'}."
    if not isinstance(policy, dict):
        return [checks.Error(f"WEFT_LIMIT_POLICY must be a dict, got {type(policy).__name__}.", hint=hint,
                             id="weft.E011")]
    known = set(Limits().__dataclass_fields__)
    bad = {k: v for k, v in policy.items() if k not in known or v not in ("retry", "fail")}
    if bad:
        return [checks.Error(f"WEFT_LIMIT_POLICY maps limits ({', '.join(sorted(known))}) to 'retry' or "
                             f"'fail'; these entries are not that: {bad}", hint=hint, id="weft.E011")]
    return []


def _check_defaults() -> list[checks.CheckMessage]:
    """Defaults that every submission uses: a bad one would refuse (or break) every task later."""
    errors: list[checks.CheckMessage] = []
    timeout = settings.DEFAULT_TIMEOUT
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
                                or (positive("MAX_TIMEOUT") and timeout > settings.MAX_TIMEOUT)):
        errors.append(checks.Error(
            f"WEFT_DEFAULT_TIMEOUT must be None or a number of seconds from 0 to WEFT_MAX_TIMEOUT, got {timeout!r}.",
            hint="Every task without its own timeout gets this one.", id="weft.E012"))
    priority = settings.DEFAULT_PRIORITY
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 9:
        errors.append(checks.Error(f"WEFT_DEFAULT_PRIORITY must be a whole number from 0 to 9, got {priority!r}.",
                                   hint="0 runs first, 9 last.", id="weft.E013"))
    limit = settings.OUTPUT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        errors.append(checks.Error(f"WEFT_OUTPUT_LIMIT must be a whole number of characters above 0, got {limit!r}.",
                                   hint="It is how much of stdout/stderr an attempt keeps.", id="weft.E014"))
    size, flush = settings.BATCH_SIZE, settings.BATCH_FLUSH_MS
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
        errors.append(checks.Error(f"WEFT_BATCH_SIZE must be a whole number from 1 to 1000, got {size!r}.",
                                   hint="Tasks per message when many are ready at once; 1 turns batching off.",
                                   id="weft.E019"))
    if isinstance(flush, bool) or not isinstance(flush, int | float) or not 0 <= flush <= 10_000:
        errors.append(checks.Error(f"WEFT_BATCH_FLUSH_MS must be a number of milliseconds from 0 to 10000, "
                                   f"got {flush!r}.", hint="How long a batched success may wait to be recorded.",
                                   id="weft.E019"))
    group = settings.SUBMIT_GROUP_MS
    if isinstance(group, bool) or not isinstance(group, int | float) or not 0 <= group <= 1000:
        errors.append(checks.Error(f"WEFT_SUBMIT_GROUP_MS must be a number of milliseconds from 0 to 1000, "
                                   f"got {group!r}.", hint="How long a busy producer's submission may wait to be "
                                   "published with others; 0 turns grouping off.", id="weft.E019"))
    return errors


def _check_input_bounds() -> list[checks.CheckMessage]:
    """The ceilings and the floor on what a submission may ask for, and the retry policies they refuse."""
    errors: list[checks.CheckMessage] = []
    days = settings.MAX_DEADLINE_DAYS
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_DEADLINE_DAYS:
        errors.append(checks.Error(f"WEFT_MAX_DEADLINE_DAYS must be a number of days from 0 to {MAX_DEADLINE_DAYS}, "
                                   f"got {days!r}.", hint="A job's deadline may lie at most this far ahead.",
                                   id="weft.E015"))
    attempts = settings.MAX_RETRY_ATTEMPTS
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 < attempts <= MAX_INT:
        errors.append(checks.Error(f"WEFT_MAX_RETRY_ATTEMPTS must be a whole number from 1 to {MAX_INT}, "
                                   f"got {attempts!r}.", hint="No retry policy may ask for more attempts.",
                                   id="weft.E016"))
    most = settings.SUBMIT_MANY_MAX
    if isinstance(most, bool) or not isinstance(most, int) or not 0 < most <= MAX_INT:
        errors.append(checks.Error(f"WEFT_SUBMIT_MANY_MAX must be a whole number from 1 to {MAX_INT}, got {most!r}.",
                                   hint="A bulk submission over HTTP may carry at most this many jobs.",
                                   id="weft.E019"))
    floor = settings.MIN_RETRY_BACKOFF
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor < float("inf"):
        errors.append(checks.Error(f"WEFT_MIN_RETRY_BACKOFF must be a number of seconds of 0 or more, got {floor!r}.",
                                   hint="No retry policy may wait less before a retry.", id="weft.E017"))
    if errors:
        return errors
    from .. import registry

    try:
        default = RetryPolicy.parse(settings.DEFAULT_RETRY, RetryPolicy(), "WEFT_DEFAULT_RETRY")
    except WeftError:
        return errors  # weft.E010 reports it
    policies = [("WEFT_DEFAULT_RETRY", default)]
    for d in registry.all_skills():  # a skill that keeps the default is reported once, as the default
        with suppress(WeftError):  # a policy that does not parse was refused when the skill registered
            policy = registry.effective_retry(d, None)
            if policy != default:
                policies.append((f"skill {d.name!r}", policy))
    for who, policy in policies:
        try:
            policy.check_bounds(attempts, floor)
        except WeftError as exc:
            errors.append(checks.Error(
                f"The retry policy of {who} is outside WEFT_MAX_RETRY_ATTEMPTS / WEFT_MIN_RETRY_BACKOFF: {exc}.",
                hint="Every submission that uses it would be refused: change the policy or the setting.",
                id="weft.E018"))
    return errors


def check_permissions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """WEFT_ALLOW_SELF_APPROVAL is a bool (weft.E050)."""
    if not isinstance(settings.ALLOW_SELF_APPROVAL, bool):
        # A string such as "False" is truthy: refuse it rather than let approvers approve their own tasks.
        return [checks.Error(f"WEFT_ALLOW_SELF_APPROVAL must be True or False, got {settings.ALLOW_SELF_APPROVAL!r}.",
                             hint="Leave it unset (False): an approver may not decide on their own tasks.",
                             id="weft.E050")]
    return []


def check_results_and_queues(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """WEFT_MAX_RESULT_BYTES (weft.E054) and WEFT_QUEUES (weft.E051-E053): a task sent to a queue that no
    worker reads would wait forever, so every queue weft sends to must be one of WEFT_QUEUES."""
    errors: list[checks.CheckMessage] = []
    cap = settings.MAX_RESULT_BYTES
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap <= 0):
        errors.append(checks.Error(f"WEFT_MAX_RESULT_BYTES must be None or a whole number of bytes above 0, "
                                   f"got {cap!r}.", id="weft.E054",
                                   hint="It caps each result and artifact an attempt stores (None: no cap)."))
    queues = settings.QUEUES
    if queues is None:
        return errors
    if (not isinstance(queues, list | tuple) or not queues
            or not all(isinstance(q, str) and QUEUE_RE.match(q) for q in queues)):
        return [*errors, checks.Error(
            f"WEFT_QUEUES must be None or a non-empty list of queue names, got {queues!r}.",
            hint="List every queue your workers read (their -Q), e.g. ['weft', 'gpu'].", id="weft.E051")]
    for name in ("DEFAULT_QUEUE", "SWEEP_QUEUE"):
        queue = getattr(settings, name)
        if queue is not None and queue not in queues:
            errors.append(checks.Error(
                f"WEFT_{name} {queue!r} is not in WEFT_QUEUES {list(queues)!r}.",
                hint="weft sends tasks (and the sweep) there: add it to WEFT_QUEUES and have a worker read it.",
                id="weft.E052"))
    from .. import registry

    for skill in registry.all_skills():
        if skill.queue is not None and skill.queue not in queues:
            errors.append(checks.Error(
                f"Skill {skill.name!r} names queue {skill.queue!r}, which is not in WEFT_QUEUES {list(queues)!r}: "
                "its tasks would be refused.", obj=skill.name,
                hint="Add the queue to WEFT_QUEUES (and have a worker read it), or change the skill's queue.",
                id="weft.E053"))
    return errors
