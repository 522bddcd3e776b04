"""A chunk of tasks from one message (``weft_django.execute_many``): claimed in one statement, run one after
another in this process, their successes recorded together.

Leases. The claim starts every task's lease at once; those waiting their turn are ``Chunk.waiting``, whose
leases the monitor thread renews in one statement every WEFT_HEARTBEAT_INTERVAL, as it renews a running
attempt's, so a long task never lets the sweep take the tasks behind it. A task starts only while its lease
surely holds (``take``: renewed less than LEASE - HEARTBEAT seconds ago by this process's clock, read before
the renewal was sent); otherwise, e.g. after the process was frozen, it is not run: its lease ran out, and
the sweep recovers it as any lost attempt. A waiting task whose renewal is refused (a cancel was requested)
keeps the lease it had, and starts only within it (its monitor then stops it as cancelled, or it ends first,
as a lone task would). From its start a task is an ordinary attempt under its own Watch.

Records. A success the single statement could record (``report.fast_success``) is kept, and written with
the others in one statement (``batch.succeed_many``) once WEFT_BATCH_SIZE are kept, at the end of the chunk,
or by the monitor thread once the oldest has waited WEFT_BATCH_FLUSH_MS (it looks every
WEFT_MONITOR_INTERVAL): a slow task holds back the record of a fast one by at most those two together.
Every other outcome is recorded at once, singly. A kept success is a running task with a finished body: if
this process dies before the flush, the attempt is lost and recovered like any other, and its next attempt
runs the body again (at least once, as always; recorded once, fenced).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from .. import storable, transitions
from ..conf import seconds, settings
from ..lifecycle import batch, report
from ..lifecycle.claim import HOST, Claimed
from ..models import Attempt
from ..outcomes import Observation
from . import runner
from .monitor import watch
from .outage import through_outage


class Chunk:
    """The claimed tasks of one message that wait their turn, and the successes not yet recorded."""

    def __init__(self, claimed: dict[int, Claimed], lease_from: float) -> None:
        self.task_id = next(iter(claimed), 0)  # what the monitor names if a check fails
        self.reason = ""  # the monitor skips a watch with a reason; a chunk never has one
        self.waiting = dict(claimed)
        self.running = dict(claimed)  # claimed and not yet recorded: running in the database
        self.refused: dict[int, tuple[Claimed, float]] = {}  # waiting, their renewal refused: until their lease ends
        self.lease_until = lease_from + seconds("LEASE_SECONDS")  # of the waiting tasks, by this process's clock
        self.kept: list[tuple[Claimed, Observation]] = []
        self.oldest = 0.0
        self._next_renewal = time.monotonic() + seconds("HEARTBEAT_INTERVAL")
        self._lock = threading.Lock()  # waiting, lease_until, kept
        self._flushing = threading.Lock()  # one flush at a time (this thread's or the monitor's)
        self._suspect = False  # a flush failed: what it kept may have been recorded after all

    def take(self, task_id: int) -> tuple[Claimed, float] | None:
        """The claimed task and the moment its lease was last started from, if it may start now."""
        with self._lock:
            c, lease_until = self.waiting.pop(task_id, None), self.lease_until
            if c is None:  # its renewal was refused (a cancel): it runs, and stops as cancelled, if its lease holds
                c, lease_until = self.refused.pop(task_id, (None, 0.0))
        if c is None or time.monotonic() > lease_until - seconds("HEARTBEAT_INTERVAL"):
            return None
        return c, lease_until - seconds("LEASE_SECONDS")

    def check(self) -> None:
        """The monitor thread, every WEFT_MONITOR_INTERVAL: renew the waiting leases, flush a late record."""
        now = time.monotonic()
        if self.due() and not self._suspect:  # after a failed flush, the chunk's own flush waits out the outage
            self.flush()
        if now >= self._next_renewal:
            self._next_renewal = now + seconds("HEARTBEAT_INTERVAL")
            self.renew()

    def renew(self) -> None:
        with self._lock:
            pairs = [(c.task_id, c.token) for c in self.waiting.values()]
        if not pairs:
            return
        sent = time.monotonic()
        held = transitions.renew_leases(pairs, seconds("LEASE_SECONDS"))
        with self._lock:
            for pk, _ in pairs:
                if pk not in held and pk in self.waiting:  # a cancel was requested: its lease is not renewed
                    self.refused[pk] = (self.waiting.pop(pk), self.lease_until)
            self.lease_until = sent + seconds("LEASE_SECONDS")

    def keep(self, c: Claimed, obs: Observation) -> bool:
        """Take a success to record with others (True), or leave it to be recorded now (False)."""
        obs = storable.storable(obs, settings.MAX_RESULT_BYTES)
        if not report.fast_success(c, obs):
            return False
        with self._lock:
            if not self.kept:
                self.oldest = time.monotonic()
            self.kept.append((c, obs))
            full = len(self.kept) >= settings.BATCH_SIZE
        if full:
            self.flush()
        return True

    def recorded(self, task_id: int) -> None:
        """A task of the chunk recorded singly (not kept)."""
        with self._lock:
            self.running.pop(task_id, None)

    def due(self) -> bool:
        return bool(self.kept) and time.monotonic() - self.oldest >= settings.BATCH_FLUSH_MS / 1000

    def flush(self) -> None:
        """Record the kept successes in one statement (batch.succeed_many), and singly those it did not apply.

        On a database error they are kept again, and the next flush first drops those no longer open: a
        statement whose commit we did not hear of may have recorded them (a lost attempt is still ours to
        record, as discarded). The chunk's own flushes wait out an outage; the monitor's leave it to them.
        """
        with self._flushing:
            with self._lock:
                kept, self.kept = self.kept, []
            if not kept:
                return
            try:
                if self._suspect:
                    kept = [k for k in kept if _open(k[0])]
                with self._lock:
                    for c, _ in kept:
                        self.running.pop(c.task_id, None)
                    busy = {c.job_id for c in self.running.values()}
                applied = batch.succeed_many(kept, busy)
            except Exception:
                with self._lock:
                    self.kept[:0] = kept
                self._suspect = True
                raise
            self._suspect = False
        for c, obs in kept:
            if c.task_id not in applied:  # fenced out, or a need depends on it now: decided singly
                runner.record(c, obs)


def _open(c: Claimed) -> bool:
    return Attempt.objects.filter(pk=c.attempt_id, outcome__in=("running", "lost")).exists()


def execute_many(pairs: list[tuple[int, int]], *, worker: str = HOST, celery_id: str = "") -> dict[str, Any]:
    """Run the tasks of one message in order; each (task id, token) claimed together if the statement may
    (lifecycle/batch.py), else singly at its turn, exactly as a message of its own. Returns how many ended how."""
    sent = time.monotonic()  # the leases run at least LEASE_SECONDS from here
    claimed = through_outage(lambda: batch.claim_many(pairs, worker=worker, pid=os.getpid(), celery_id=celery_id),
                             "claim", pairs[0][0] if pairs else 0) or {}
    chunk = Chunk(claimed, sent)
    ended: Counter[str] = Counter()
    with watch(chunk):
        for task_id, token in dict(pairs).items():
            if task_id not in claimed:
                ended[runner.execute(task_id, token, worker=worker, celery_id=celery_id)["outcome"]] += 1
                continue
            took = chunk.take(task_id)
            if took is None:  # its lease ran out while it waited (or was not renewed): the sweep recovers it
                ended["not started: its lease ran out while it waited"] += 1
                continue
            outcome = runner.attempt(took[0], worker=worker, lease_from=took[1], keep=chunk.keep)["outcome"]
            if outcome != runner.KEPT:
                chunk.recorded(task_id)
            ended[outcome] += 1
        through_outage(chunk.flush, "record", pairs[-1][0] if pairs else 0)
    return {"tasks": len(pairs), "claimed together": len(claimed), "ended": dict(ended)}
