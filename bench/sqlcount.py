"""Exact count of the SQL each process sends, at the psycopg level, in a small shared file per process.

Counted: every cursor ``execute`` (sync and async; Django, django-celery-results and procrastinate all
go through it), the parameter sets of ``executemany``, and psycopg's own commands (BEGIN, COMMIT,
ROLLBACK). The counters live in an mmap'ed file ``<BENCH_COUNT_DIR>/<BENCH_ROLE>-<pid>.cnt`` so the
producer can read every process's counts at any moment, without a shutdown hook and without a syscall
per statement. Nothing is counted unless BENCH_COUNT_DIR is set.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

QUERIES, MANY_ROWS, COMMANDS = 0, 1, 2
SLOTS = 4
FIELDS = ("queries", "executemany_rows", "commands")

_counts: Any = None
_paused = False
_installed = False


def _open() -> None:
    """(Re)open this process's counter file; after a fork the child must not share its parent's."""
    global _counts
    directory = os.environ.get("BENCH_COUNT_DIR")
    if not directory:
        _counts = None
        return
    role = os.environ.get("BENCH_ROLE", "proc")
    path = Path(directory) / f"{role}-{os.getpid()}.cnt"
    with path.open("w+b") as f:
        f.truncate(8 * SLOTS)
        mm = mmap.mmap(f.fileno(), 8 * SLOTS)
    _counts = (ctypes.c_int64 * SLOTS).from_buffer(mm)


def _bump(slot: int, by: int = 1) -> None:
    c = _counts
    if c is not None and not _paused:
        c[slot] += by


def install() -> None:
    """Wrap psycopg's execute paths in this process (and, via fork, its children). Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    import psycopg
    from psycopg._connection_base import BaseConnection

    sync_execute, sync_many = psycopg.Cursor.execute, psycopg.Cursor.executemany
    async_execute, async_many = psycopg.AsyncCursor.execute, psycopg.AsyncCursor.executemany
    exec_command = BaseConnection._exec_command

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        _bump(QUERIES)
        return sync_execute(self, *args, **kwargs)

    def executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        _bump(MANY_ROWS, len(params_seq) if hasattr(params_seq, "__len__") else 1)
        return sync_many(self, query, params_seq, **kwargs)

    async def aexecute(self: Any, *args: Any, **kwargs: Any) -> Any:
        _bump(QUERIES)
        return await async_execute(self, *args, **kwargs)

    async def aexecutemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
        _bump(MANY_ROWS, len(params_seq) if hasattr(params_seq, "__len__") else 1)
        return await async_many(self, query, params_seq, **kwargs)

    def command(self: Any, *args: Any, **kwargs: Any) -> Any:
        _bump(COMMANDS)  # BEGIN / COMMIT / ROLLBACK / SAVEPOINT sent by psycopg itself
        return exec_command(self, *args, **kwargs)

    psycopg.Cursor.execute = execute  # type: ignore[method-assign]
    psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
    psycopg.AsyncCursor.execute = aexecute  # type: ignore[method-assign]
    psycopg.AsyncCursor.executemany = aexecutemany  # type: ignore[method-assign]
    BaseConnection._exec_command = command  # type: ignore[method-assign]
    _open()
    os.register_at_fork(after_in_child=_open)


@contextmanager
def paused() -> Iterator[None]:
    """Do not count the statements of the measuring code itself (completion checks)."""
    global _paused
    _paused = True
    try:
        yield
    finally:
        _paused = False


def read_all(directory: str | Path) -> dict[str, dict[str, int]]:
    """Counts summed per role, over every process that ever counted into ``directory``."""
    totals: dict[str, dict[str, int]] = {}
    for path in Path(directory).glob("*.cnt"):
        data = path.read_bytes()
        if len(data) < 8 * SLOTS:
            continue
        values = (ctypes.c_int64 * SLOTS).from_buffer_copy(data)
        role = path.name.rsplit("-", 1)[0]
        t = totals.setdefault(role, dict.fromkeys(FIELDS, 0))
        for i, name in enumerate(FIELDS):
            t[name] += values[i]
    return totals


def delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    zero = dict.fromkeys(FIELDS, 0)
    return {role: {f: after[role][f] - before.get(role, zero)[f] for f in FIELDS} for role in after}
