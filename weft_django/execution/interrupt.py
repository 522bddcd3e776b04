"""Interrupting a Python skill that runs in this process, from the monitor thread."""

from __future__ import annotations

import ctypes
import signal
import threading
from types import FrameType


class Interrupted(BaseException):
    """Raised inside a running skill when the monitor stops it (timeout, cancel, lost lease, limit)."""


# A thread ident -> True while an interruptible skill runs on it; the signal handler checks it so a
# late signal never lands in the runner's own code.
_armed: dict[int, bool] = {}
_installed = False


def _handler(signum: int, frame: FrameType | None) -> None:
    if _armed.get(threading.get_ident()):
        _armed[threading.get_ident()] = False
        raise Interrupted()


def arm() -> int:
    """Mark the current thread interruptible; returns its ident for ``interrupt``."""
    global _installed
    ident = threading.get_ident()
    if ident == threading.main_thread().ident and not _installed:
        signal.signal(signal.SIGALRM, _handler)
        _installed = True
    _armed[ident] = True
    return ident


def disarm(ident: int) -> None:
    _armed.pop(ident, None)


def interrupt(ident: int) -> None:
    """Raise Interrupted in thread ``ident`` (a signal wakes the main thread even from a blocking call)."""
    if not _armed.get(ident):
        return
    if ident == threading.main_thread().ident and _installed:
        signal.pthread_kill(ident, signal.SIGALRM)
    else:
        _armed[ident] = False
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(Interrupted))
