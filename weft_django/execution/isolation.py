"""Run a Python skill (``isolation="process"``) in a forked child, so the monitor can measure and kill it alone.

Why fork and not multiprocessing: Celery's prefork pool processes are daemonic and may not start
multiprocessing children, and a fork needs no pickling of the skill or re-import of the project. The
child is forked by a supervisor (supervisor.py) that kills it if the worker dies or the lease runs out;
it starts its own session (so ``kill_group`` takes it and anything it starts), writes stdout and
stderr to files and its result as JSON to a third file, and leaves with ``os._exit`` so that nothing
it inherited (database and broker connections, atexit hooks) is touched on the way out.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import asdict
from typing import IO, Any

from ..outcomes import NonRetryable, Observation, Outcome
from ..spec import check_json
from . import proctitle, supervisor
from .monitor import Watch, stopped
from .output import peek_tail
from .processes import die_with_parent, max_fd

RESULT_FD = 3  # the child's result file, after it closed everything else it inherited


def run(func: Callable[..., Any], kwargs: dict[str, Any], w: Watch, *, title: tuple[int, str],
        cost: Callable[[], float], tail: Callable[[IO[bytes]], str]) -> Observation:
    """Call ``func(**kwargs)`` in a child process watched by ``w``; return what happened.

    ``cost`` reads the cost the skill reported through its context (in the child); ``tail`` reads the
    end of an output file.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as res:
        def spawn() -> int:  # in the supervisor (supervisor.py), a fork of the worker: so is the child
            pid = os.fork()  # the supervisor has one thread: no warning to silence
            if pid == 0:  # the child: never returns
                die_with_parent()
                gc.enable()  # the supervisor runs without a collector; the skill needs one
                _child(func, kwargs, out.fileno(), err.fileno(), res.fileno(), title, cost)
            return pid

        w.output = lambda: (peek_tail(out), peek_tail(err))
        try:
            # The supervisor freezes the worker's objects before it forks, so the child's garbage collector
            # does not touch (and so copy) every page it shares with us: its memory counts what the skill uses.
            code = supervisor.run(spawn, w, skill=title[1], memory="uss",
                                  keep=(out.fileno(), err.fileno(), res.fileno()))
        except supervisor.SpawnFailed as exc:
            return Observation(Outcome.failure(f"cannot fork a process for the skill: {exc}"), "failed", "ForkFailed")
        stdout, stderr = tail(out), tail(err)
        w.output = None  # the files close here; the attempt's close writes these tails
        res.seek(0)
        raw = res.read()
    if w.reason:
        return stopped(w, exit_code=code, stdout=stdout, stderr=stderr)
    try:
        message = json.loads(raw) if raw else None
    except ValueError:
        message = None
    if not isinstance(message, dict):
        died = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return Observation(Outcome.failure(f"the skill's process {died} before it reported a result"), "failed",
                           "ProcessDied", exit_code=code, stdout=stdout, stderr=stderr)
    return _observe(message, stdout, stderr)


def _observe(message: dict[str, Any], stdout: str, stderr: str) -> Observation:
    cost = float(message.get("cost") or 0.0)
    if "error" in message:
        e = message["error"]
        return Observation(Outcome.failure(e["message"], retryable=e["retryable"], cost=cost), "failed", e["type"],
                           e["traceback"], None, stdout, stderr)
    if "unserialisable" in message:
        return Observation(Outcome.failure(message["unserialisable"], retryable=False, cost=cost), "failed",
                           "NotSerializable", stdout=stdout, stderr=stderr)
    o = message["outcome"]
    outcome = Outcome(**{**o, "needs": tuple(o["needs"]), "children": tuple(o["children"])}).plus_cost(cost)
    attempt_outcome = {"success": "succeeded", "failure": "failed", "blocked": "blocked",
                       "decompose": "decomposed"}[outcome.kind]
    return Observation(outcome, attempt_outcome, "Failure" if outcome.kind == "failure" else "", exit_code=0,
                       stdout=stdout, stderr=stderr)


def _child(func: Callable[..., Any], kwargs: dict[str, Any], out: int, err: int, res: int,
           title: tuple[int, str], cost: Callable[[], float]) -> None:
    code = 0
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM, signal.SIGUSR1, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        _forget_connections()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.dup2(res, RESULT_FD)
        os.closerange(RESULT_FD + 1, max_fd())  # sockets, pipes and files of the worker are not the skill's
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        proctitle.show(title[0], title[1], "running")
        try:
            value = func(**kwargs)
            message = _encode(value)
        except BaseException as exc:
            message = {"error": {"type": type(exc).__qualname__, "message": str(exc) or type(exc).__name__,
                                 "traceback": traceback.format_exc(), "retryable": not isinstance(exc, NonRetryable)}}
        message["cost"] = cost()
        data = json.dumps(message, allow_nan=False).encode()
        while data:
            data = data[os.write(RESULT_FD, data):]
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # nothing may escape into the worker's code: this is a copy of it
        code = 70
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # stderr itself is gone; the exit code tells the parent
            pass
    finally:
        os._exit(code)


def _encode(value: Any) -> dict[str, Any]:
    outcome = value if isinstance(value, Outcome) else Outcome.success(value)
    try:
        if outcome.kind == "success":
            check_json(outcome.value, "result")
        encoded = asdict(outcome)
        json.dumps(encoded, allow_nan=False)
    except Exception as exc:
        return {"unserialisable": str(exc)}
    return {"outcome": encoded}


_inherited: list[Any] = []


def _forget_connections() -> None:
    """Drop (never close: that would end the worker's own session) the database connections we inherited.

    The skill may still use the ORM: Django opens a new connection on first use.
    """
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        _inherited.append(conn.connection)  # kept referenced, so nothing finalises it in this process
        conn.connection = None
        conn.closed_in_transaction = False
        conn.in_atomic_block = False
        conn.needs_rollback = False

