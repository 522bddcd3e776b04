"""Sends ready tasks to Celery by task name: the only module (with tasks.py) that imports Celery.

What to send and when (after the transaction that readied the tasks commits) is ``handoff``'s; this module
is imported once something is actually sent, so the modules that ready tasks load without Celery.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from celery import Celery, current_app
from django.utils.module_loading import import_string

from .conf import settings

if TYPE_CHECKING:  # handoff imports this module when it sends
    from .handoff import Ready

logger = logging.getLogger(__name__)

EXECUTE = "weft_django.execute"
EXECUTE_MANY = "weft_django.execute_many"
SWEEP = "weft_django.sweep"
FANOUT = "weft_django.fanout"
SCHEDULED = "weft_django.scheduled"


def celery_app() -> Celery:
    path = settings.CELERY_APP
    if path:
        return _import_app(path)
    return current_app._get_current_object()  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=8)
def _import_app(path: str) -> Celery:
    return import_string(path.replace(":", ".")) if ":" in path else import_string(path)


def publish(items: Sequence[Ready]) -> tuple[int, str]:
    """Publish now, in order; stop at the first failure. Returns how many were sent (the first ones) and why
    the rest were not ("" if all were).

    A broker error is logged, not raised: the rows are committed and the sweep re-sends what is not
    claimed, so a lost message costs latency, never the task. The rest of the batch is not tried: with
    the broker down each publish would only wait out Celery's connection retries again.
    """
    app = celery_app()
    sent = 0
    try:
        # One producer (one pooled broker connection) for the whole batch: a bulk job publishes
        # thousands of messages, and acquiring a producer per message costs more than the publish.
        with app.producer_or_acquire() as producer:
            transport = producer.connection.transport.driver_type
            for m in messages(list(items), settings.BATCH_SIZE):
                r = m[0]
                name, args = (EXECUTE, (r.task_id, r.token)) if len(m) == 1 else (
                    EXECUTE_MANY, ([[x.task_id, x.token] for x in m],))
                # A queue on a direct exchange is published to through the default exchange by its name (Celery
                # does so), and on Redis that is a push onto the queue's list: no binding is read, so a process
                # declares such a queue once, not on every publish (the check costs a tenth of a publish). Other
                # exchanges, and other brokers, declare as Celery does, every time.
                declared = transport == "redis" and r.queue in _declared_on_redis
                app.send_task(name, args=args, queue=r.queue, priority=broker_priority(r.priority, transport),
                              countdown=r.countdown or None, producer=producer, declare=[] if declared else None)
                if transport == "redis" and _direct(app, r.queue):
                    _declared_on_redis.add(r.queue)
                sent += len(m)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        logger.warning("weft: could not publish %d of %d task message(s) (%s); the sweep will re-send them",
                       len(items) - sent, len(items), error, exc_info=logger.isEnabledFor(logging.DEBUG))
        return sent, error
    return sent, ""


_declared_on_redis: set[str] = set()


def _direct(app: Celery, queue: str) -> bool:
    exchange = getattr(app.amqp.queues.get(queue), "exchange", None)
    return getattr(exchange, "type", "direct") == "direct"


def messages(items: list[Ready], size: int) -> list[list[Ready]]:
    """The messages that carry ``items``: tasks due now grouped by queue and priority, in chunks of at most
    ``size`` (one ``weft_django.execute_many`` message each, in task id order); a task with a countdown, or
    alone in its group, goes in a message of its own."""
    if size <= 1 or len(items) <= 1:
        return [[r] for r in items]
    out: list[list[Ready]] = []
    groups: dict[tuple[str, int], list[Ready]] = {}
    for r in items:
        if r.countdown:
            out.append([r])
        else:
            groups.setdefault((r.queue, r.priority), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: r.task_id)
        out += [group[i:i + size] for i in range(0, len(group), size)]
    return out


def send(items: Sequence[Ready]) -> int:
    """Publish now; how many were sent (see ``publish``)."""
    return publish(items)[0]


def run_celery(argv: list[str]) -> int:
    """Run ``celery <argv>`` (e.g. a worker) with the project's Celery app in this process; its exit code.

    What ``app.start(argv)`` does, but keeping the exit code, which ``app.start`` drops: click's
    ``main(standalone_mode=False)`` returns the code given to ``ctx.exit`` instead of raising, and
    ``app.start`` ignores that return value, so a worker that died still looked like a clean exit.
    """
    from celery.bin.celery import celery as command
    from click.exceptions import Exit

    command.params[0].default = celery_app()  # the --app option, as app.start sets it
    try:
        code = command.main(args=argv, standalone_mode=False)
    except Exit as exc:  # click versions that raise it even outside standalone mode
        code = exc.exit_code
    finally:
        command.params[0].default = None
    return code if isinstance(code, int) else 0


def harden_redis_transport() -> None:
    """Keep a Celery worker alive through a Redis restart (kombu 5.7's Redis transport; called at worker init).

    On a lost connection, Celery's consumer first ``collect()``s the broken kombu connection, which detaches
    its transport (``transport.client = None``) but leaves the connection's default channel in place, then
    ``close()``s it. Closing that channel again restores its unacknowledged messages (the running tasks'),
    which builds a new Redis connection pool from ``transport.client.hostname``: an AttributeError, which is
    not one of the connection errors Celery ignores there, so the worker stops with "Unrecoverable error:
    AttributeError("'NoneType' object has no attribute 'hostname'")". It happens when the connection drops
    while the worker waits for messages with a task running; plain Celery dies the same way.

    The patch makes a channel whose connection is gone raise redis-py's ConnectionError instead, which
    Celery handles like the connection loss it is: it reconnects. The messages it could not restore stay
    in Redis's unacked set (Celery restores them after the visibility timeout); weft's sweep re-sends
    their tasks sooner if they did not finish.
    """
    try:
        import redis
        from kombu.transport import redis as transport
    except ImportError:  # no Redis transport installed: nothing to harden
        return
    channel: Any = transport.Channel  # kombu ships no type hints for it
    original = channel._connparams
    if getattr(original, "weft_hardened", False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise redis.exceptions.ConnectionError("this channel's broker connection was closed")
        return cast(dict[str, Any], original(self, asynchronous=asynchronous))

    _connparams.weft_hardened = True  # type: ignore[attr-defined]
    channel._connparams = _connparams


def broker_priority(priority: int, transport: str) -> int:
    """weft's priority (0 first ... 9 last) in the broker's own order.

    Celery's Redis transport serves lower numbers first, as weft counts; an AMQP broker (RabbitMQ)
    delivers the highest number first, so it gets the mirror image (and needs a queue declared with
    x-max-priority, which CELERY_TASK_QUEUE_MAX_PRIORITY gives; weft.W032).
    """
    return 9 - priority if transport == "amqp" else priority


FANOUT_CHUNK = 250


def send_or_fan_out(items: list[Ready]) -> tuple[int, str]:
    """Publish a small batch here; for a large one, publish the first chunk here and hand the rest to the
    workers in chunks (``weft_django.fanout``), so submitting a 10,000-task job costs tens of publishes,
    not ten thousand. A lost chunk costs latency only: its tasks are queued rows the sweep re-sends.

    Returns how many tasks were sent (a chunk handed to the workers counts as sent) and the error, if any.
    """
    # Batched, a message carries up to WEFT_BATCH_SIZE tasks: each fan-out chunk still costs ~FANOUT_CHUNK publishes.
    span = FANOUT_CHUNK * max(1, settings.BATCH_SIZE)
    if len(items) <= span:
        return publish(items)
    sent, error = publish(items[:span])
    if error:  # the broker is down: the chunks would fail the same way
        return sent, error
    app = celery_app()
    for start in range(span, len(items), span):
        # With the moment each is due (epoch seconds): the worker that publishes the chunk does so later, and a
        # countdown counted from then would make every delayed task late (a rate limit's moments, a retry's).
        now = time.time()
        chunk = [[r.task_id, r.token, r.queue, r.priority, r.countdown, now + r.countdown if r.countdown else 0]
                 for r in items[start:start + span]]
        try:
            app.send_task(FANOUT, args=(chunk,), queue=settings.DEFAULT_QUEUE)
        except Exception as exc:
            logger.warning("weft: could not publish a fan-out chunk (%s); the sweep will re-send its tasks", exc)
            return sent, f"{type(exc).__name__}: {exc}"
        sent += len(chunk)
    return sent, ""
