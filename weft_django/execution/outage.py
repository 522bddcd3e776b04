"""A database restart costs a worker a wait, not the message or the attempt (issue 5)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

from ..conf import settings

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def through_outage(call: Callable[[], _T], what: str, task_id: int,
                    done: Callable[[], bool] | None = None) -> _T | None:
    """``call()``, again after a database error (an outage, a deadlock victim) for up to WEFT_LEASE_SECONDS.

    Without this a restart of PostgreSQL turns every message a worker takes meanwhile into a failed
    claim (the message is acked and gone until the sweep sends it again) and every attempt that ends
    meanwhile into a lost one. Both calls are transactions: one that failed changed nothing, and
    ``done()`` tells whether one whose commit we did not hear about went through after all.
    """
    deadline = time.monotonic() + settings.LEASE_SECONDS
    delay = 0.2
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError) as exc:  # also a deadlock or a serialization failure
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("weft: database error at the %s of task %s (%s: %s); again in %.1f s", what, task_id,
                           type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "", delay)
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            try:
                if done is not None and done():
                    return None
            except (OperationalError, InterfaceError):
                connection.close()
