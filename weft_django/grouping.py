"""Grouping a busy producer's publishes (WEFT_SUBMIT_GROUP_MS; off by default).

``submit()`` still returns a job whose rows are committed: only the broker publish of its task may wait. The
rule is after Nagle's: a submission is published at once unless its process is busy (the last two came back
to back, see BUSY_GAP), so an occasional submit, or one sent after the last one's task ended, costs no
latency. In a busy process it waits in a per-process buffer, flushed by a daemon thread when the window since
the last publish ends, or at once by the submit that fills it to WEFT_BATCH_SIZE. A flushed group goes out as
``weft_django.execute_many`` messages (one per queue and priority), which the workers claim and record a chunk
at a time: that is the saving, a little in the producer (one publish for many), most in the workers
(execution/chunk.py).

The cost: a task submitted in a busy process starts up to the window later. A process that dies with a full
buffer leaves those tasks' messages unsent; their rows are committed, so the sweep sends them
(``Delivery.resend_within``): late, never lost. Celery-free like handoff.py: dispatch is imported to send.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Callable

from django.db import transaction

from . import handoff
from .conf import settings
from .handoff import Delivery, Ready

logger = logging.getLogger(__name__)

Publish = Callable[[list[Ready]], tuple[int, str]]

# Busy: the process submits again within this long of its last submission's return, twice in a row. A loop
# that submits back to back comes back within a fraction of a millisecond (its next submission's own insert);
# one that waits for each task's result, or a submission now and then, comes back later than this and never
# waits. Several threads submitting at once count as busy, as they are.
BUSY_GAP = 0.002


def _publish(items: list[Ready]) -> tuple[int, str]:
    from .dispatch import send_or_fan_out  # Celery is imported when something is sent, not before

    return send_or_fan_out(items)


class Grouper:
    """One process's buffer: ``offer`` a lone ready task; it is published now or with the window's group."""

    def __init__(self, publish: Publish = _publish, clock: Callable[[], float] = time.monotonic) -> None:
        self.publish, self.clock = publish, clock
        self._reset()

    def _reset(self) -> None:  # also in a forked child: the parent's buffer is the parent's to send
        self.lock = threading.Condition(threading.Lock())
        self.buffer: list[tuple[Ready, Delivery]] = []
        self.last = float("-inf")  # when the last publish started: the window runs from there
        self.window = 0.0  # seconds, as the last offer gave it
        self.free_since = float("-inf")  # when the last offer returned
        self.tight = 0  # offers in a row that came within BUSY_GAP of the one before returning
        self.thread: threading.Thread | None = None

    def offer(self, item: Ready, delivery: Delivery, window: float, size: int) -> None:
        """Publish ``item`` now if the process is idle, else keep it for the window's group (``window`` s)."""
        with self.lock:
            now, self.window = self.clock(), window
            self.tight = self.tight + 1 if now - self.free_since < BUSY_GAP else 0
            if not self.buffer and self.tight < 2:
                self.last, group = now, [(item, delivery)]
            else:
                self.buffer.append((item, delivery))
                if len(self.buffer) < size:
                    self._wake()
                    self.free_since = self.clock()
                    return
                self.last, group, self.buffer = now, self.buffer, []
        self._send(group)
        with self.lock:
            self.free_since = self.clock()

    def flush(self) -> None:
        """Publish whatever waits, now (at exit, and in tests)."""
        with self.lock:
            group, self.buffer = self.buffer, []
            if group:
                self.last = self.clock()
        if group:
            self._send(group)

    def _wake(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="weft-submit-group", daemon=True)
            self.thread.start()
        self.lock.notify()

    def _run(self) -> None:
        while True:
            with self.lock:
                while not self.buffer:
                    if not self.lock.wait(timeout=60.0):  # idle a minute: end; the next offer starts another
                        self.thread = None
                        return
                wait = self.last + self.window - self.clock()
                if wait > 0:
                    self.lock.wait(timeout=wait)
                    continue  # filled and sent by an offer meanwhile, or due now: look again
                self.last, group, self.buffer = self.clock(), self.buffer, []
            self._send(group)

    def _send(self, group: list[tuple[Ready, Delivery]]) -> None:
        try:
            _, error = self.publish([r for r, _ in group])
        except Exception as exc:  # publish logs broker errors itself; this is anything else (a bad WEFT_CELERY_APP)
            logger.exception("weft: could not publish %d grouped task message(s); the sweep will send them", len(group))
            error = f"{type(exc).__name__}: {exc}"
        for _, delivery in group:
            # Which of a partly sent group went is not known (messages are grouped by queue): each is reported
            # unsent. The rows are committed either way: the sweep sends what no worker claims, and a duplicate
            # message claims nothing.
            delivery.record(0 if error else 1, error)


_grouper = Grouper()
os.register_at_fork(after_in_child=_grouper._reset)
atexit.register(_grouper.flush)


def groupable(items: list[Ready]) -> bool:
    """Grouping is on and this submission readied one task, due now (a job of many is sent in chunks anyway)."""
    return bool(settings.SUBMIT_GROUP_MS) and len(items) == 1 and not items[0].countdown


def after_commit(items: list[Ready]) -> Delivery:
    """``handoff.after_commit`` for a submission: a lone task due now goes through the grouper when grouping is on."""
    if not groupable(items):
        return handoff.after_commit(items)
    delivery = Delivery(1)
    transaction.on_commit(functools.partial(_grouper.offer, items[0], delivery, settings.SUBMIT_GROUP_MS / 1000.0,
                                            settings.BATCH_SIZE))
    return delivery
