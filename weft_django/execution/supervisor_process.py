"""The supervisor process itself: forked from a worker by ``supervisor.start``, it starts the attempt's child,
watches the child, the control pipe and the lease's kill time, then kills and reaps everything the attempt
left (issue 10). Everything here runs in the fork and ends in ``os._exit``: nothing returns to the worker's code.

The pipes' protocol, one line each: the worker sends ``lease <monotonic deadline>``; the supervisor answers
``pid <child>`` or ``error <OSError class> <message>`` once, then ``exit <child's wait status> <why>``.
"""

from __future__ import annotations

import gc
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import NoReturn

import psutil

from . import proctitle
from .processes import become_subreaper, close_all_but

POLL_SECONDS = 0.05  # only where pidfd_open is missing


class _Terminated(BaseException):
    """A SIGTERM/SIGINT/SIGHUP to the supervisor: kill the attempt, as if the worker had died."""


def supervise(spawn: Callable[[], int], control: int, status: int, lease_until: float, margin: float,
              keep: set[int], title: tuple[int, str]) -> NoReturn:
    """The supervisor's whole life: start the child with ``spawn()``, watch it, kill and reap all, exit.

    ``control``: the read end of the worker's pipe; ``status``: the write end of ours; ``keep``: the
    descriptors to keep open (every other inherited one is closed); ``title``: (task id, skill) for ``ps``.
    """
    code = 0
    child = 0
    try:
        gc.disable()
        os.setsid()  # out of the worker's process group: a Ctrl-C meant for the worker is not ours
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _terminate)  # a Python handler, unlike SIG_IGN, is not inherited across exec
        for sig in (signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        close_all_but(keep)
        become_subreaper()
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
