"""Signals weft sends after the transaction that caused them commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

job_submitted = Signal()
"""A job and its tasks were written. kwargs: job_id."""
task_started = Signal()
"""A worker claimed a task. kwargs: job_id, task_id, attempt."""
task_finished = Signal()
"""A task reached a final state. kwargs: job_id, task_id, status."""
job_finished = Signal()
"""A job reached a final state. kwargs: job_id, status."""


def send_on_commit(signal: Signal, **kwargs: Any) -> None:
    """Send once the current transaction commits; free when nobody listens."""
    if signal.receivers and signal.has_listeners():  # the list check first: most sites connect nothing
        transaction.on_commit(lambda: signal.send(sender="weft", **kwargs))
