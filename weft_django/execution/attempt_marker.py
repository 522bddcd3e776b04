"""Which attempts a supervisor still guards on this host: one abstract Unix socket per attempt, held by its
supervisor for as long as it lives (issue 10).

Orphan recovery checks ``attempt_alive`` before it starts the next attempt early: while the marker is
held, something the attempt started may still run. The kernel frees the name when its last holder dies,
so a SIGKILLed supervisor leaves no stale marker behind.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import socket

logger = logging.getLogger(__name__)


def _name(worker: str, task_id: int, token: int) -> bytes:
    digest = hashlib.sha256(f"{worker}\0{task_id}\0{token}".encode()).hexdigest()[:40]
    return b"\0weft-attempt-" + digest.encode()


def hold(worker: str, task_id: int, token: int) -> socket.socket | None:
    """Bind the attempt's marker; None (and a warning) when another process already holds it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(_name(worker, task_id, token))
    except OSError as exc:  # another process already holds it: orphan recovery then waits for the lease
        logger.warning("weft: cannot mark attempt %s of task %s as supervised: %s", token, task_id, exc)
        s.close()
        return None
    return s


def attempt_alive(worker: str, task_id: int, token: int) -> bool:
    """Whether a supervisor of this attempt (and so possibly something it started) still lives on this host."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.bind(_name(worker, task_id, token))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
