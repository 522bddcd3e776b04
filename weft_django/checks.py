"""System checks for WEFT_* settings and the Celery wiring (weft.E001 ...)."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.core import checks

from .conf import settings
from .exceptions import WeftError
from .jobspec import MAX_DEADLINE_DAYS
from .spec import MAX_INT, QUEUE_RE, Limits, RetryPolicy


def _positive(name: str) -> bool:
    value = getattr(settings, name)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if not isinstance(settings.DEFAULT_QUEUE, str) or not QUEUE_RE.match(settings.DEFAULT_QUEUE):
        errors.append(checks.Error(f"WEFT_DEFAULT_QUEUE {settings.DEFAULT_QUEUE!r} is not a valid queue name.",
                                   hint="Use 1-100 letters, digits or _.-", id="weft.E001"))
    for i, name in enumerate(("LEASE_SECONDS", "HEARTBEAT_INTERVAL", "SWEEP_INTERVAL", "REDISPATCH_AFTER",
                              "MONITOR_INTERVAL", "MAX_TIMEOUT"), start=2):
        if not _positive(name):
            errors.append(checks.Error(f"WEFT_{name} must be a number greater than 0.",
                                       hint=f"Remove WEFT_{name} to use the default.", id=f"weft.E00{i}"))
    if _positive("LEASE_SECONDS") and _positive("HEARTBEAT_INTERVAL") and (
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
    errors.extend(_check_celery())
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
                                or (_positive("MAX_TIMEOUT") and timeout > settings.MAX_TIMEOUT)):
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
    floor = settings.MIN_RETRY_BACKOFF
    if isinstance(floor, bool) or not isinstance(floor, int | float) or not 0 <= floor < float("inf"):
        errors.append(checks.Error(f"WEFT_MIN_RETRY_BACKOFF must be a number of seconds of 0 or more, got {floor!r}.",
                                   hint="No retry policy may wait less before a retry.", id="weft.E017"))
    if errors:
        return errors
    from . import registry

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


def _check_celery() -> list[checks.CheckMessage]:
    from django.conf import settings as django_settings

    try:
        from .dispatch import celery_app

        app = celery_app()
    except Exception as exc:
        return [checks.Error(f"weft cannot find the Celery app: {exc}",
                             hint="Set WEFT_CELERY_APP = 'yourproject.celery:app'.", id="weft.E020")]
    if app.main is None and not getattr(django_settings, "CELERY_BROKER_URL", None) and not app.conf.broker_url:
        return [checks.Warning(
            "No Celery app with a broker is configured; weft would publish to Celery's default broker.",
            hint="Create a Celery app in your project (see README: 'Add it to your project') and set "
                 "CELERY_BROKER_URL, or set WEFT_CELERY_APP.", id="weft.W021")]
    return []


@checks.register(checks.Tags.compatibility)
def check_reliability(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings the recovery path relies on (docs/reliability.md)."""
    errors: list[checks.CheckMessage] = []
    queue = settings.SWEEP_QUEUE
    if queue is not None and (not isinstance(queue, str) or not QUEUE_RE.match(queue)):
        errors.append(checks.Error(f"WEFT_SWEEP_QUEUE {queue!r} is not a valid queue name.",
                                   hint="Use 1-100 letters, digits or _.- (or None for WEFT_DEFAULT_QUEUE).",
                                   id="weft.E030"))
    if not _positive("WORKER_OFFLINE_AFTER"):
        errors.append(checks.Error("WEFT_WORKER_OFFLINE_AFTER must be a number greater than 0.",
                                   hint="Remove it to use the default (60 s).", id="weft.E031"))
    elif _positive("HEARTBEAT_INTERVAL") and settings.WORKER_OFFLINE_AFTER < 2 * settings.HEARTBEAT_INTERVAL:
        errors.append(checks.Warning(
            "WEFT_WORKER_OFFLINE_AFTER is less than two WEFT_HEARTBEAT_INTERVALs: live workers will flap offline.",
            hint="Workers write their heartbeat every WEFT_HEARTBEAT_INTERVAL seconds.", id="weft.W031"))
    try:
        from .dispatch import celery_app

        app = celery_app()
        prefetch = app.conf.worker_prefetch_multiplier
        with app.connection_for_write() as connection:  # not connected: this only names the transport
            transport = connection.transport.driver_type
    except Exception:  # weft.E020 already reports an app that cannot be found
        return errors
    if prefetch != 1:
        errors.append(checks.Warning(
            f"CELERY_WORKER_PREFETCH_MULTIPLIER is {prefetch!r}; weft expects 1.",
            hint="With acks_late, every prefetched message waits unacknowledged behind a running (maybe long) "
                 "task while other workers sit idle; the sweep sends its task again only after "
                 "WEFT_REDISPATCH_AFTER. Set CELERY_WORKER_PREFETCH_MULTIPLIER = 1 (manage.py weft_worker passes "
                 "--prefetch-multiplier 1).", id="weft.W030"))
    if transport == "amqp" and not app.conf.task_queue_max_priority:
        errors.append(checks.Warning(
            "The broker is AMQP (RabbitMQ) and CELERY_TASK_QUEUE_MAX_PRIORITY is not set: RabbitMQ ignores "
            "the priorities of weft's tasks.",
            hint="Set CELERY_TASK_QUEUE_MAX_PRIORITY = 10, so that the queues Celery declares carry "
                 "x-max-priority. A queue that exists already keeps the arguments it was declared with: "
                 "delete it while no worker consumes it (rabbitmqctl delete_queue weft) and let the next "
                 "worker declare it again.", id="weft.W032"))
    return errors


@checks.register(checks.Tags.urls)
def check_api(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The HTTP API, where the project mounts it, needs drf-spectacular as DRF's schema class."""
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("weft_api:schema")
    except NoReverseMatch:  # the API is not mounted: nothing to check
        return []
    except Exception:  # no ROOT_URLCONF (a worker-only settings module), or one Django's own checks report
        return []
    from rest_framework.settings import api_settings

    schema_class = api_settings.DEFAULT_SCHEMA_CLASS
    if schema_class is not None and schema_class.__module__.startswith("drf_spectacular"):
        return []
    return [checks.Warning(
        "weft's HTTP API is mounted but DRF's DEFAULT_SCHEMA_CLASS is not drf-spectacular's: its OpenAPI schema "
        "(…/schema/) cannot be built.",
        hint='Set REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema", ...}.',
        id="weft.W040")]


@checks.register(checks.Tags.security)
def check_permissions(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not isinstance(settings.ALLOW_SELF_APPROVAL, bool):
        # A string such as "False" is truthy: refuse it rather than let approvers approve their own tasks.
        return [checks.Error(f"WEFT_ALLOW_SELF_APPROVAL must be True or False, got {settings.ALLOW_SELF_APPROVAL!r}.",
                             hint="Leave it unset (False): an approver may not decide on their own tasks.",
                             id="weft.E050")]
    return []


@checks.register(checks.Tags.compatibility)
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
    from . import registry

    for skill in registry.all_skills():
        if skill.queue is not None and skill.queue not in queues:
            errors.append(checks.Error(
                f"Skill {skill.name!r} names queue {skill.queue!r}, which is not in WEFT_QUEUES {list(queues)!r}: "
                "its tasks would be refused.", obj=skill.name,
                hint="Add the queue to WEFT_QUEUES (and have a worker read it), or change the skill's queue.",
                id="weft.E053"))
    return errors
