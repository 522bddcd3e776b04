"""The hand-off of ready tasks: what to send (``Ready``), and sending it once the transaction commits.

Celery stays at the edge: this module imports none, so the modules that ready tasks (the lifecycle
package, the sweep) and everything that imports them (service, reports) load without it.
``dispatch`` (the only module that talks to Celery) is imported when the transaction commits, not before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import transaction

from .conf import settings


@dataclass(frozen=True)
class Ready:
    """A task to send: its id, the fencing token a claim must match, and where to send it."""

    task_id: int
    token: int
    queue: str
    priority: int
    countdown: float = 0.0


@dataclass
class Delivery:
    """What became of a submission's task messages; ``Job.delivery`` of the job ``submit()`` returns.

    The job and its tasks are written before anything is sent, so a message the broker did not take is
    not a lost task: the sweep sends it again (``resend_within``). ``sent`` is None until the
    transaction that wrote the job commits (a submit inside ``transaction.atomic()``), then how many of
    ``total`` messages the broker took; ``error`` says why the others were not sent.
    """

    total: int
    sent: int | None = None
    error: str = ""

    @property
    def failed(self) -> bool:
        """True once it is known that some message was not sent."""
        return self.sent is not None and self.sent < self.total

    @property
    def resend_within(self) -> float:
        """Seconds after the submission by which the sweep sends an unsent task again (once the broker answers)."""
        return settings.REDISPATCH_AFTER + settings.SWEEP_INTERVAL

    def record(self, sent: int, error: str) -> None:
        self.sent, self.error = sent, error


def _send(items: list[Ready], delivery: Delivery) -> None:
    from .dispatch import send_or_fan_out  # Celery is imported when something is sent, not before

    delivery.record(*send_or_fan_out(items))


def after_commit(items: list[Ready]) -> Delivery:
    """Publish once the surrounding transaction commits (at once outside a transaction); the Delivery
    says what was sent once that happened."""
    delivery = Delivery(len(items))
    if items:
        transaction.on_commit(functools.partial(_send, items, delivery))
    else:
        delivery.record(0, "")
    return delivery
