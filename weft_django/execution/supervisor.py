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
"""

from __future__ import annotations

import ctypes
import errno
import gc
import hashlib
import logging
import os
import select
import signal
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType
from typing import NoReturn

import psutil

from ..conf import settings
from . import proctitle
from .monitor import Watch, kill_tree

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
POLL_SECONDS = 0.05  # only where pidfd_open is missing


class SpawnFailed(Exception):
    """The supervisor could not start the child (``kind`` is the OSError's class name, e.g. FileNotFoundError)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Terminated(BaseException):
    """A SIGTERM/SIGINT/SIGHUP to the supervisor: kill the attempt, as if the worker had died."""


def kill_margin() -> float:
    """Seconds before its lease runs out that an attempt's processes are killed when no renewal came."""
    return settings.LEASE_SECONDS / 6


def die_with_parent() -> None:
    """In a new child: SIGKILL me if my parent (the supervisor) dies. A backstop only: it reaches no grandchild."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# ---------------------------------------------------------------- the attempt's marker


def _marker_name(worker: str, task_id: int, token: int) -> bytes:
    digest = hashlib.sha256(f"{worker}\0{task_id}\0{token}".encode()).hexdigest()[:40]
    return b"\0weft-attempt-" + digest.encode()


def _marker(worker: str, task_id: int, token: int) -> socket.socket | None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(_marker_name(worker, task_id, token))
    except OSError as exc:  # another process already holds it: orphan recovery then waits for the lease
        logger.warning("weft: cannot mark attempt %s of task %s as supervised: %s", token, task_id, exc)
        s.close()
        return None
    return s


def attempt_alive(worker: str, task_id: int, token: int) -> bool:
    """Whether a supervisor of this attempt (and so possibly something it started) still lives on this host."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.bind(_marker_name(worker, task_id, token))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


# ---------------------------------------------------------------- the worker's side


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
    marker = _marker(worker, task_id, token)  # bound before the fork: there is no instant without it
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
        _supervise(spawn, control_r, status_w, lease_until, margin,
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
        kill_tree(sup.child)
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


# ---------------------------------------------------------------- the supervisor's side


def _supervise(spawn: Callable[[], int], control: int, status: int, lease_until: float, margin: float,
               keep: set[int], title: tuple[int, str]) -> NoReturn:
    code = 0
    child = 0
    try:
        gc.disable()
        os.setsid()  # out of the worker's process group: a Ctrl-C meant for the worker is not ours
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _terminate)  # a Python handler, unlike SIG_IGN, is not inherited across exec
        for sig in (signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        _close_all_but(keep)
        if _prctl is not None:
            _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        proctitle.show(title[0], title[1], "supervising")
        try:
            child = spawn()
        except OSError as exc:
            _send(status, f"error {type(exc).__name__} {exc.strerror or exc}")
        else:
            _send(status, f"pid {child}")
            wait_status, why = _watch(child, control, lease_until, margin)
            _send(status, f"exit {_kill_all(child, wait_status)} {why}")
    except BaseException:  # a copy of the worker: nothing may escape into its code
        code = 70
        with suppress(BaseException):
            traceback.print_exc()  # to the worker's stderr, which it kept
        if child:
            with suppress(BaseException):
                _kill_all(child, None)
    finally:
        os._exit(code)


def _terminate(signum: int, frame: FrameType | None) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the kill that follows is not to be interrupted again
    raise _Terminated()


def _watch(child: int, control: int, lease_until: float, margin: float) -> tuple[int | None, str]:
    """Wait for the child's end, the worker's death or the kill time; (the child's wait status or None, why)."""
    kill_at = lease_until - margin
    pidfd = None
    with suppress(AttributeError, OSError):  # no pidfd here: poll
        pidfd = os.pidfd_open(child)
    watched = [control] if pidfd is None else [control, pidfd]
    pending = b""
    try:
        while True:
            left = kill_at - time.monotonic()
            if left <= 0:
                return None, "lease"
            ready, _, _ = select.select(watched, [], [], left if pidfd is not None else min(left, POLL_SECONDS))
            if pidfd is None or pidfd in ready:
                pid, wait_status = os.waitpid(child, os.WNOHANG)
                if pid:
                    return wait_status, ""
            if control in ready:
                data = os.read(control, 4096)
                if not data:
                    return None, "worker"
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    if line.startswith(b"lease "):
                        kill_at = float(line[6:]) - margin
    except _Terminated:
        return None, "signal"
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _kill_all(child: int, wait_status: int | None) -> int:
    """SIGKILL the child's process group and every descendant; reap until none is left; the child's wait status.

    Each round kills what it sees, then waits for one child to go: the orphans of the killed are
    re-parented to us (a subreaper) and seen in the next round, so the loop ends only when no process
    of the attempt is left (``ChildProcessError``: we have no child at all).
    """
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(child, signal.SIGKILL)
    me = psutil.Process()
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no child, so no descendant: the usual end, without a scan of /proc
            return wait_status if wait_status is not None else -1
        if not pid:  # something lives: kill what we see, then wait for one to go
            with suppress(psutil.Error):
                for p in me.children(recursive=True):
                    with suppress(psutil.Error):
                        p.kill()
            pid, st = os.waitpid(-1, 0)
        if pid == child:
            wait_status = st


def _send(fd: int, line: str) -> None:
    data = f"{line}\n".encode()
    while data:
        data = data[os.write(fd, data):]


def _close_all_but(keep: set[int]) -> None:
    """Close every inherited file descriptor not in ``keep`` (close_range where the OS has it: one call)."""
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):
        return 4096
