"""Process plumbing shared by the supervisor and a forked skill: Linux ``prctl``, killing a process group,
closing the file descriptors a fork inherited."""

from __future__ import annotations

import ctypes
import os
import signal
from contextlib import suppress

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # None off Linux: both calls below do nothing


def die_with_parent() -> None:
    """In a new child: SIGKILL me if my parent (the supervisor) dies. A backstop only: it reaches no grandchild."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def become_subreaper() -> None:
    """Make orphaned descendants re-parent to this process, so none escapes by ``setsid`` or a double fork."""
    if _prctl is not None:
        _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_group(pid: int) -> None:
    """SIGKILL a child's whole process group (it was started in its own session), or the child alone."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def close_all_but(keep: set[int]) -> None:
    """Close every inherited file descriptor not in ``keep`` (close_range where the OS has it: one call)."""
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, max_fd())


def max_fd() -> int:
    """The highest file descriptor number a process may hold here (capped: closing up to it must stay cheap)."""
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):
        return 4096
