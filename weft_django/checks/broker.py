"""System checks of the Celery side: the app weft sends through, its broker, and what recovery relies on."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import settings
from ..spec import QUEUE_RE
from .values import positive


def check_celery_app() -> list[checks.CheckMessage]:
    """The Celery app weft sends through can be found (weft.E020) and has a broker (weft.W021)."""
    from django.conf import settings as django_settings

    try:
        from ..dispatch import celery_app

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


def check_reliability(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings the recovery path relies on (docs/reliability.md)."""
    errors: list[checks.CheckMessage] = []
    queue = settings.SWEEP_QUEUE
    if queue is not None and (not isinstance(queue, str) or not QUEUE_RE.match(queue)):
        errors.append(checks.Error(f"WEFT_SWEEP_QUEUE {queue!r} is not a valid queue name.",
                                   hint="Use 1-100 letters, digits or _.- (or None for WEFT_DEFAULT_QUEUE).",
                                   id="weft.E030"))
    if not positive("WORKER_OFFLINE_AFTER"):
        errors.append(checks.Error("WEFT_WORKER_OFFLINE_AFTER must be a number greater than 0.",
                                   hint="Remove it to use the default (60 s).", id="weft.E031"))
    elif positive("HEARTBEAT_INTERVAL") and settings.WORKER_OFFLINE_AFTER < 2 * settings.HEARTBEAT_INTERVAL:
        errors.append(checks.Warning(
            "WEFT_WORKER_OFFLINE_AFTER is less than two WEFT_HEARTBEAT_INTERVALs: live workers will flap offline.",
            hint="Workers write their heartbeat every WEFT_HEARTBEAT_INTERVAL seconds.", id="weft.W031"))
    try:
        from ..dispatch import celery_app

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
