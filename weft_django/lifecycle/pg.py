"""The PostgreSQL fast versions' plumbing: whether they run, and one prepared statement per call.

Each event module (submit, claim, report) keeps its single-statement PostgreSQL version next to its ORM
version, which stays the reference and handles every case the statement does not (budgets, deadlines,
DAGs, duplicates, SQLite); the statement reports "did not apply" and the caller falls back.

Status tests in those statements are written ``(status = 'queued') IS TRUE``: a plain ``status = 'queued'``
implies the predicate of the partial indexes (weft_task_queued_idx, ...), and the planner may then scan the
whole queued backlog through them instead of fetching one row by primary key, so claims would cost more as
the backlog grows. The IS TRUE form is equivalent here (status is NOT NULL) and implies nothing.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from ..conf import settings


def enabled() -> bool:
    return settings.FAST_PATH and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


_NEVER = 2**31 - 1


def fetchone(sql: str, params: dict[str, Any]) -> Any:
    """The first row of a prepared statement (see ``_run``)."""
    return _run(sql, params, many=False)


def fetchall(sql: str, params: dict[str, Any]) -> list[Any]:
    """Every row of a prepared statement: the statements of a chunk of tasks (batch.py) return one per task."""
    return list(_run(sql, params, many=True))


def _run(sql: str, params: dict[str, Any], *, many: bool) -> Any:
    """Run one of the per-task statements as a prepared statement, keeping Django's error handling.

    Django binds parameters on the client, so PostgreSQL would plan these CTEs again on every call,
    which costs about as much as running them. A server-binding psycopg cursor with ``prepare=True``
    plans each once per connection (WEFT_PREPARED_STATEMENTS=False turns this off, e.g. behind a
    transaction-pooling PgBouncer older than 1.21).
    """
    # One lookup of this thread's connection: each attribute read through django.db.connection looks it
    # up again in a context-local, which on this path cost more than building the statement's parameters.
    db = connections[DEFAULT_DB_ALIAS]
    if not settings.PREPARED_STATEMENTS:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if many else cursor.fetchone()
    import psycopg  # only on PostgreSQL, where Django uses psycopg 3

    if db.connection is None:
        db.ensure_connection()
    pg = db.connection
    cached = getattr(_local, "cursor", None)
    if cached is not None and cached.connection is pg:
        prepared: psycopg.Cursor[Any] = cached
    else:
        if pg.prepare_threshold is None:
            # Django connects with prepare_threshold=None, and psycopg then ignores prepare=True too. A
            # threshold no statement reaches prepares exactly the statements that ask for it (Django's own
            # cursors bind on the client and never prepare).
            pg.prepare_threshold = _NEVER
        # One server-binding cursor per connection, used for one statement at a time by the thread that
        # owns the connection (Django connections are per thread).
        prepared = _local.cursor = psycopg.Cursor(pg)
    started = time.monotonic()
    with db.wrap_database_errors:
        if db.execute_wrappers:  # Django's hook (connection.execute_wrapper): tools that time or count queries
            _with_wrappers(db, prepared, sql, params)
        else:
            prepared.execute(sql, params, prepare=True)
        row = prepared.fetchall() if many else prepared.fetchone()
    if db.queries_logged:  # what Django's debug cursor records, so query logs and counts stay true
        rendered = psycopg.ClientCursor(pg).mogrify(sql, params)
        db.queries_log.append({"sql": rendered, "time": f"{time.monotonic() - started:.3f}"})
    return row


def _with_wrappers(db: Any, prepared: Any, sql: str, params: dict[str, Any]) -> None:
    """Execute through the connection's execute wrappers, as Django's own cursors do (CursorWrapper)."""
    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
        prepared.execute(sql, params, prepare=True)

    executor: Any = execute
    for wrapper in reversed(db.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    executor(sql, params, False, {"connection": db, "cursor": prepared})


_local = threading.local()


def dumps(value: Any) -> str:
    return json.dumps(value)


def loads(value: Any) -> Any:
    # Django's psycopg setup hands jsonb back as text for JSONField to parse; raw cursors see that text.
    return json.loads(value) if isinstance(value, str) else value
