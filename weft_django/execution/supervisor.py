"""A supervisor process between a worker and an attempt's child process, so that nothing of the attempt
outlives its lease (issue 10).

    worker (pool process) --fork--> supervisor (own session, child subreaper) --spawn--> child (own session) ...

A command skill, or a Python skill with ``isolation="process"``, runs in a child process in its own
session. Without a supervisor, a SIGKILLed worker left that child (and whatever it started) running,
and the sweep started attempt 2 beside it once the lease ran out. The supervisor watches the lease
itself and kills the child's process group and every other descendant, then reaps them all, when

- the worker dies: only the worker holds the write end of the control pipe, so its death is EOF here;
- the lease is about to run out: the worker writes each renewed lease deadline down the pipe; without
  a newer one the supervisor kills ``kill_margin()`` seconds before the last deadline it got;
- the child exits: what it left behind goes too (daemons included: an orphan is re-parented to the
  supervisor, a child subreaper, so it cannot escape by ``setsid`` or a double fork).

It exits only when it has no child left. While it lives it holds an abstract Unix socket named after
the attempt (``attempt_alive``), which orphan recovery checks before it starts the next attempt early.

Deadlines are CLOCK_MONOTONIC readings of this host, taken *before* the statement that set the lease
was sent: the database sets ``lease_expires_at`` to its own now() + WEFT_LEASE_SECONDS, which is later.
Linux only (prctl, pidfd); elsewhere the subreaper is skipped and the child is polled.

This module is the worker's side (``start``, ``run``, the ``Supervisor`` handle); the forked process
runs ``supervisor_process.supervise``; the marker lives in ``attempt_marker``, the process plumbing in
``processes``.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import warnings
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

from ..conf import settings
from . import attempt_marker
from .attempt_marker import attempt_alive
from .monitor import Watch
from .processes import kill_group
from .supervisor_process import supervise

# attempt_alive is imported from here too: orphan recovery asks it before it starts the next attempt early.
__all__ = ["SpawnFailed", "Supervisor", "attempt_alive", "kill_margin", "run", "start"]

logger = logging.getLogger(__name__)


class SpawnFailed(Exception):
    """The supervisor could not start the child (``kind`` is the OSError's class name, e.g. FileNotFoundError)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def kill_margin() -> float:
    """Seconds before its lease runs out that an attempt's processes are killed when no renewal came."""
    return settings.LEASE_SECONDS / 6


@dataclass
class Supervisor:
    """The worker's handle on a running supervisor and the child it started."""

    pid: int
    child: int
    _control: int  # write end: lease deadlines go down
    _status: int  # read end: "exit <wait status> <why>" comes up

    def renew(self, until: float) -> None:
        """Tell the supervisor the lease now runs until monotonic time ``until``."""
        with suppress(OSError):  # it has exited meanwhile, or the pipe is full (it is not reading): no matter
            os.write(self._control, f"lease {until!r}\n".encode())

    def wait(self) -> tuple[int, str]:
        """Block until the supervisor is done; the child's exit code (-N for signal N) and why it was killed.

        Why: "" (it ended by itself, or the worker killed it), "lease" (no renewal came in time),
        "signal" (someone signalled the supervisor), "supervisor" (the supervisor itself died).
        """
        line = _read_all(self._status)
        os.close(self._status)
        _, wait_status = os.waitpid(self.pid, 0)
        if line.startswith("exit "):
            status, _, why = line[5:].partition(" ")
            return os.waitstatus_to_exitcode(int(status)), why
        logger.error("weft: the supervisor %s of child %s died (%s)", self.pid, self.child,
                     os.waitstatus_to_exitcode(wait_status))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.child, signal.SIGKILL)
        return -signal.SIGKILL, "supervisor"

    def close(self) -> None:
        with suppress(OSError):
            os.close(self._control)


def start(spawn: Callable[[], int], *, lease_until: float, worker: str, task_id: int, token: int, skill: str,
          keep: Iterable[int] = ()) -> Supervisor:
    """Fork a supervisor that calls ``spawn()`` (which starts the child and returns its pid) and watches it.

    ``keep``: file descriptors the child needs (its output files); the supervisor closes every other
    one it inherited, so that no other attempt's control pipe stays open in it. Raises SpawnFailed.
    """
    marker = attempt_marker.hold(worker, task_id, token)  # bound before the fork: there is no instant without it
    control_r, control_w = os.pipe()
    status_r, status_w = os.pipe()
    os.set_blocking(control_w, False)  # the monitor thread must never block on a supervisor that hangs
    margin = kill_margin()
    # Frozen objects are not traversed by a collector, so neither process copies the worker's pages.
    gc.freeze()
    try:
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a threaded process: the supervisor touches none of the
            # monitor thread's locks (logging re-creates its own after a fork), so it is safe here.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as exc:
        gc.unfreeze()
        for fd in (control_r, control_w, status_r, status_w):
            os.close(fd)
        if marker is not None:
            marker.close()
        raise SpawnFailed("ForkFailed", exc.strerror or str(exc)) from None
    if pid == 0:  # never returns
        supervise(spawn, control_r, status_w, lease_until, margin,
                  {0, 1, 2, control_r, status_w, *([marker.fileno()] if marker else []), *keep}, (task_id, skill))
    gc.unfreeze()
    os.close(control_r)
    os.close(status_w)
    if marker is not None:
        marker.close()  # the supervisor's copy holds the name now
    first = _read_line(status_r)
    if first.startswith("pid "):
        return Supervisor(pid, int(first[4:]), control_w, status_r)
    os.close(control_w)
    os.close(status_r)
    os.waitpid(pid, 0)
    kind, _, message = first.removeprefix("error ").partition(" ")
    raise SpawnFailed(kind or "SupervisorDied", message or "the supervisor died before it started the child")


def _read_line(fd: int) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", "replace").strip()


def _read_all(fd: int) -> str:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data.decode("utf-8", "replace").strip()


def run(spawn: Callable[[], int], w: Watch, *, skill: str, memory: str = "rss", keep: Iterable[int] = ()) -> int:
    """Start the child under a supervisor, let the monitor watch it, wait for its end; its exit code.

    The monitor measures and kills the child (``w.pid``) as before and passes lease renewals on
    (``w.supervisor``). Raises SpawnFailed.
    """
    sup = start(spawn, lease_until=w.lease_until, worker=w.worker, task_id=w.task_id, token=w.token, skill=skill,
                keep=keep)
    with w._lock:
        w.pid, w.memory, w.supervisor = sup.child, memory, sup
        stopped_while_starting = bool(w.reason)
        sup.renew(w.lease_until)  # a renewal that came while it started
    if stopped_while_starting:
        kill_group(sup.child)
    why = ""
    try:
        code, why = sup.wait()
    finally:
        with w._lock:  # before the close: the monitor writes to the pipe under this lock
            w.supervisor = None
            if why == "lease" and not w.reason:
                w.reason = "lease_expiring"  # killed by the supervisor: no renewal reached the database in time
        sup.close()
    w.sample()
    return code
