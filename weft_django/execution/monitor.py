"""One monitor thread per worker process: watches the running attempt's clock, lease, cancel flag and
process tree (psutil), renews the lease, and stops the attempt when a limit or a request says so."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import psutil
from django.db import close_old_connections, connection

from .. import transitions
from ..conf import seconds
from ..lifecycle import ledger
from ..models import Task
from ..outcomes import Observation, Outcome
from ..states import TaskStatus
from . import interrupt
from .processes import kill_group

if TYPE_CHECKING:
    from .supervisor import Supervisor

logger = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 1.0
_W = TypeVar("_W", bound="Watched")


@dataclass
class Watch:
    """What the monitor knows of one running attempt."""

    task_id: int
    token: int  # the fencing token of the attempt's lease (the task's ``attempts`` column while it holds)
    timeout: float | None
    limits: dict[str, float]
    thread_ident: int | None = None
    pid: int | None = None  # a child process (command or isolated skill) to measure and kill
    # "rss", or "uss" for a forked Python skill: its RSS would count the worker pages it shares by fork.
    memory: str = "rss"
    started: float = field(default_factory=time.monotonic)
    worker: str = ""  # the Celery nodename: it names the attempt's supervisor marker
    # Monotonic time until which the lease surely holds (read before the claim or renewal was sent),
    # and the supervisor of the child process, told of each renewal (supervisor.py, issue 10).
    lease_until: float = 0.0
    supervisor: Supervisor | None = None
    reason: str = ""  # why it was stopped: timeout | cancelled | lease_lost | lease_expiring | a limit name
    # The attempt's output so far (stdout, stderr tails), written to its row while it runs (live output).
    attempt_id: int | None = None
    output: Callable[[], tuple[str, str]] | None = None
    _shown: tuple[str, str] = ("", "")
    _next_flush: float = 0.0
    peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0
    peak_open_files: int = 0
    _next_heartbeat: float = 0.0
    _next_poll: float = 0.0
    _procs: dict[int, psutil.Process] = field(default_factory=dict)
    _cpu_mark: tuple[float, float] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason:
                return
            self.reason = reason
            pid, ident = self.pid, self.thread_ident
        if pid is not None:
            kill_group(pid)
        elif ident is not None:
            interrupt.interrupt(ident)

    def sample(self) -> None:
        """Measure the child process tree; stop it if over a limit."""
        if self.pid is None:
            return
        sup = self.supervisor
        try:
            if sup is not None:  # the child and all it started, even orphans: they are re-parented to the supervisor
                top = self._procs.get(sup.pid) or self._procs.setdefault(sup.pid, psutil.Process(sup.pid))
                tree = top.children(recursive=True)
            else:
                root = self._procs.get(self.pid) or self._procs.setdefault(self.pid, psutil.Process(self.pid))
                tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        rss = cpu = 0.0
        files = 0
        for p in tree:
            p = self._procs.setdefault(p.pid, p)
            try:
                with p.oneshot():
                    rss += p.memory_full_info().uss if self.memory == "uss" else p.memory_info().rss
                    t = p.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                    files += p.num_fds()
            except psutil.Error:
                continue
        now = time.monotonic()
        self.peak_rss_mb = max(self.peak_rss_mb, rss / 2**20)
        self.cpu_seconds = max(self.cpu_seconds, cpu)
        self.peak_open_files = max(self.peak_open_files, files)
        pct = None
        if self._cpu_mark is not None and now - self._cpu_mark[0] >= 1.0:
            pct = 100 * (cpu - self._cpu_mark[1]) / (now - self._cpu_mark[0])
            self._cpu_mark = (now, cpu)
        elif self._cpu_mark is None:
            self._cpu_mark = (now, cpu)
        lim = self.limits
        for name, value in (("memory_mb", rss / 2**20), ("cpu_seconds", cpu), ("open_files", files),
                            ("cpu_percent", pct)):
            if value is not None and lim.get(name) is not None and value > lim[name]:
                self.stop(name)
                return

    def check(self) -> None:
        now = time.monotonic()
        elapsed = now - self.started
        if self.timeout is not None and elapsed > self.timeout:
            self.stop("timeout")
            return
        wall = self.limits.get("wall_seconds")
        if wall is not None and elapsed > wall:
            self.stop("wall_seconds")
            return
        self.sample()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + seconds("HEARTBEAT_INTERVAL")
            if elapsed > 0.5 * seconds("HEARTBEAT_INTERVAL"):
                sent = time.monotonic()
                if not transitions.renew_lease(self.task_id, self.token, seconds("LEASE_SECONDS")):
                    self._poll()
                    return
                self.renewed(sent + seconds("LEASE_SECONDS"))
        if elapsed >= CANCEL_POLL_SECONDS and now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL_SECONDS
            self._poll()
        if self.output is not None and now >= self._next_flush:
            self._next_flush = now + seconds("OUTPUT_FLUSH_SECONDS")
            self.flush()

    def flush(self) -> None:
        """Write the output so far to the attempt's row, if it changed (at most every OUTPUT_FLUSH_SECONDS)."""
        if self.output is None or self.attempt_id is None:
            return
        try:
            shown = self.output()
        except (ValueError, OSError):  # the attempt just ended and closed its output files: its close writes them
            self.output = None
            return
        if shown != self._shown:
            ledger.write_live_output(self.attempt_id, *shown)
            self._shown = shown

    def renewed(self, until: float) -> None:
        with self._lock:
            self.lease_until = until
            if self.supervisor is not None:
                self.supervisor.renew(until)

    def _poll(self) -> None:
        # The ``attempts`` column is the token of the current lease: another value means another claim won.
        row = Task.objects.filter(pk=self.task_id).values_list("status", "attempts", "cancel_requested").first()
        if row is None or row[2]:
            self.stop("cancelled")
        elif row[0] != TaskStatus.RUNNING or row[1] != self.token:
            self.stop("lease_lost")


# The attempt outcome of each reason the monitor stops an attempt for (any other reason is a limit: killed).
STOPPED_AS = {"timeout": "timed_out", "cancelled": "cancelled", "lease_lost": "failed", "lease_expiring": "failed"}


def stopped(w: Watch, **extra: Any) -> Observation:
    """What an attempt the monitor stopped observed (its ``reason``), e.g. ``timed out after 5 s``."""
    message = {
        "timeout": f"timed out after {w.timeout:g} s" if w.timeout else "timed out",
        "cancelled": "cancel requested",
        "lease_lost": "the lease was lost (another worker owns the task now)",
        "lease_expiring": "killed before its lease ran out: no renewal of the lease reached the database in time",
    }.get(w.reason, f"killed: {w.reason} limit ({w.limits.get(w.reason)}) exceeded")
    kind = STOPPED_AS.get(w.reason, "killed")
    error_type = {"timeout": "Timeout", "cancelled": "Cancelled", "lease_lost": "LeaseLost",
                  "lease_expiring": "LeaseLost"}.get(w.reason, "LimitExceeded")
    return Observation(Outcome.failure(message), kind, error_type, **extra)


class Watched(Protocol):
    """What the monitor watches: a running attempt (Watch), or a chunk's waiting tasks (chunk.py)."""
    task_id: int
    reason: str
    def check(self) -> None: ...


class Monitor:
    """The per-process thread. Started lazily so that it exists in each forked pool process."""

    def __init__(self) -> None:
        self._by_id: dict[int, Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def _ensure_thread(self) -> None:
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="weft-monitor", daemon=True)
            self._thread.start()

    @contextmanager
    def watch(self, w: _W) -> Iterator[_W]:
        with self._lock:
            self._ensure_thread()
            self._by_id[id(w)] = w
        try:
            yield w
        finally:
            with self._lock:
                self._by_id.pop(id(w), None)

    def _run(self) -> None:
        idle = True
        while True:
            time.sleep(seconds("MONITOR_INTERVAL"))
            with self._lock:
                watches = list(self._by_id.values())
            if not watches:
                if not idle:  # nothing to watch: hold no database session (a test's database can be dropped)
                    connection.close()
                idle = True
                continue
            idle = False
            for w in watches:
                if w.reason:
                    continue
                try:
                    w.check()
                except Exception:  # a database blip must not kill the monitor; the lease covers us
                    logger.exception("weft monitor: check of task %s failed", w.task_id)
                    close_old_connections()
                    connection.close()


_monitor = Monitor()


def watch(w: _W) -> AbstractContextManager[_W]:
    """Watch ``w`` for the duration of the with-block."""
    return _monitor.watch(w)
