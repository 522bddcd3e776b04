"""Single-statement PostgreSQL versions of the three transitions every task goes through: submit a lone
task, claim it, record its success.

Each is one data-modifying CTE, so one round trip and one implicit transaction, with the same guards
as the ORM versions in transitions.py / engine.py (compare-and-set on status and fencing token). They
cover only the common case and report "did not apply" otherwise; the caller then runs the ORM version,
which stays the reference and handles every other case (budgets, deadlines, DAGs, duplicates, SQLite).

Status tests are written ``(status = 'queued') IS TRUE``: a plain ``status = 'queued'`` implies the
predicate of the partial indexes (weft_task_queued_idx, ...), and the planner may then scan the whole
queued backlog through them instead of fetching one row by primary key, so claims would cost more as
the backlog grows. The IS TRUE form is equivalent here (status is NOT NULL) and implies nothing.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections

from .conf import settings


def enabled() -> bool:
    return settings.FAST_PATH and connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


_NEVER = 2**31 - 1


def _fetchone(sql: str, params: dict[str, Any]) -> Any:
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
            return cursor.fetchone()
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
        prepared.execute(sql, params, prepare=True)
        row = prepared.fetchone()
    if db.queries_logged:  # what Django's debug cursor records, so query logs and counts stay true
        rendered = psycopg.ClientCursor(pg).mogrify(sql, params)
        db.queries_log.append({"sql": rendered, "time": f"{time.monotonic() - started:.3f}"})
    return row


_local = threading.local()


def _json(value: Any) -> str:
    return json.dumps(value)


def _load(value: Any) -> Any:
    # Django's psycopg setup hands jsonb back as text for JSONField to parse; raw cursors see that text.
    return json.loads(value) if isinstance(value, str) else value


SUBMIT = """
WITH j AS (
    INSERT INTO weft_job (owner_id, name, status, stop_reason, idempotency_key, labels, cost,
                          tasks_total, tasks_open, tasks_failed, created_at)
    SELECT %(owner)s, %(name)s, 'running', '', NULL, %(labels)s::jsonb, 0, 1, 1, 0, now()
    WHERE NOT EXISTS (SELECT 1 FROM weft_skill
                      WHERE name = %(skill_name)s AND version = %(skill_version)s AND NOT enabled)
    RETURNING id, created_at
)
INSERT INTO weft_task (job_id, key, skill_name, skill_version, params, limits, retry, timeout, queue, priority,
                       status, attempts, pending_deps, has_dependents, has_dependencies, dispatched_at, worker,
                       cancel_requested, blocked_reason, error, created_at)
SELECT j.id, %(key)s, %(skill_name)s, %(skill_version)s, %(params)s::jsonb, %(limits)s::jsonb, %(retry)s::jsonb,
       %(timeout)s, %(queue)s, %(priority)s, 'queued', 0, 0, false, false, now(), '', false, '', '', now()
FROM j
RETURNING job_id, id, (SELECT created_at FROM j)
"""


def submit(key: str, fields: dict[str, Any], *, name: str, owner_id: int | None,
           labels: dict[str, Any]) -> tuple[int, int, Any] | None:
    """Insert a job with one queued task; returns (job id, task id, created_at), or None (and writes
    nothing) if an operator disabled the skill."""
    params = {**fields, "key": key, "name": name, "owner": owner_id, "labels": _json(labels),
              "params": _json(fields["params"]), "limits": _json(fields["limits"]), "retry": _json(fields["retry"])}
    row = _fetchone(SUBMIT, params)
    return None if row is None else (row[0], row[1], row[2])


INSERT_TASKS = """
INSERT INTO weft_task (job_id, key, skill_name, skill_version, params, limits, retry, timeout, queue, priority,
                       status, attempts, pending_deps, has_dependents, has_dependencies, dispatched_at, worker,
                       cancel_requested, blocked_reason, error, created_at)
SELECT %(job)s, k, sn, sv, p::jsonb, l::jsonb, r::jsonb, tmo, q, pr, st, 0, pd, hd, hdeps,
       CASE WHEN st = 'queued' THEN now() END, '', false, br, '', now()
FROM unnest(%(keys)s::text[], %(skills)s::text[], %(versions)s::text[], %(params)s::text[], %(limits)s::text[],
            %(retry)s::text[], %(timeouts)s::float8[], %(queues)s::text[], %(priorities)s::int[],
            %(states)s::text[], %(pending)s::int[], %(dependents)s::bool[], %(dependencies)s::bool[],
            %(blocked)s::text[])
     AS x(k, sn, sv, p, l, r, tmo, q, pr, st, pd, hd, hdeps, br)
RETURNING key, id
"""


def insert_tasks(job_id: int, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert a job's tasks in one statement (arrays, not one VALUES tuple per row); returns key -> id."""
    def col(name: str) -> list[Any]:
        return [r[name] for r in rows]

    params: dict[str, Any] = {
        "job": job_id, "keys": col("key"), "skills": col("skill_name"), "versions": col("skill_version"),
        "params": [_json(r["params"]) for r in rows], "limits": [_json(r["limits"]) for r in rows],
        # One element type per array: psycopg refuses a list mixing 30 and 3600.0 (a task's own timeout
        # and a default), so numbers are made uniform here.
        "retry": [_json(r["retry"]) for r in rows], "queues": col("queue"),
        "timeouts": [None if v is None else float(v) for v in col("timeout")],
        "priorities": [int(v) for v in col("priority")], "states": [str(s) for s in col("status")],
        "pending": col("pending_deps"),
        "dependents": col("has_dependents"), "dependencies": col("has_dependencies"),
        "blocked": [r.get("blocked_reason", "") for r in rows],
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_TASKS, params)
        return dict(cursor.fetchall())


def insert_dependencies(pairs: list[tuple[int, int]]) -> None:
    """Insert (upstream, downstream) edges in one statement."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO weft_dependency (upstream_id, downstream_id) "
                       "SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
                       [[u for u, _ in pairs], [d for _, d in pairs]])


CLAIM = """
WITH j AS (
    -- The job by primary key on its own, not joined: a prepared statement's generic plan is built once
    -- per connection, and built while weft_job was small the join scanned every job, for every claim.
    -- Below, IS TRUE keeps job_id out of the task's index conditions (weft_task_job_key_uniq would
    -- otherwise look tempting on a small table, and reads every task of a big job).
    SELECT id, max_cost FROM weft_job
    WHERE id = (SELECT job_id FROM weft_task WHERE id = %(task)s)
      AND (status = 'running') IS TRUE AND max_attempts IS NULL AND deadline IS NULL
), t AS (
    UPDATE weft_task AS t
    SET status = 'running', attempts = t.attempts + 1, started_at = now(), worker = %(worker)s, not_before = NULL,
        lease_expires_at = now() + make_interval(secs => %(lease)s)
    WHERE t.id = %(task)s AND (t.status = 'queued') IS TRUE AND t.attempts = %(token)s
      AND (t.job_id = (SELECT id FROM j)) IS TRUE
    RETURNING t.job_id, t.key, t.skill_name, t.params, t.limits, t.retry, t.timeout, t.queue, t.priority,
              t.has_dependents, t.has_dependencies, t.parent_id, (SELECT max_cost FROM j)
), a AS (
    INSERT INTO weft_attempt (task_id, job_id, number, outcome, worker, pid, celery_id, started_at, error_type,
                              error_message, traceback, stdout, stderr, limit_hit, cost)
    SELECT %(task)s, job_id, %(token)s + 1, 'running', %(worker)s, %(pid)s, %(celery_id)s, now(),
           '', '', '', '', '', '', 0
    FROM t
    RETURNING id
)
SELECT t.*, a.id FROM t, a
"""

CLAIM_KEYS = ("job_id", "key", "skill_name", "params", "limits", "retry", "timeout", "queue", "priority",
              "has_dependents", "has_dependencies", "parent_id", "job__max_cost", "attempt_id")


def claim(task_id: int, token: int, *, worker: str, pid: int, celery_id: str) -> dict[str, Any] | None:
    """queued -> running and the attempt opened, for a job without an attempt budget or deadline."""
    row = _fetchone(CLAIM, {"task": task_id, "token": token, "worker": worker, "pid": pid,
                            "celery_id": celery_id, "lease": float(settings.LEASE_SECONDS)})
    if row is None:
        return None
    out = dict(zip(CLAIM_KEYS, row, strict=True))
    for k in ("params", "limits", "retry"):
        out[k] = _load(out[k])
    return out


SUCCEED = """
WITH t AS (
    UPDATE weft_task SET status = 'succeeded', result = %(result)s::jsonb, error = '', finished_at = now(),
                         lease_expires_at = NULL
    WHERE id = %(task)s AND attempts = %(token)s AND (status = 'running') IS TRUE
      -- A need added while the attempt ran may depend on this task (the claim saw no dependents): then the
      -- ORM version runs, which releases it.
      AND NOT has_dependents
    RETURNING id, job_id
), a AS (
    UPDATE weft_attempt
    SET outcome = 'succeeded', finished_at = now(), duration = %(duration)s, exit_code = %(exit_code)s,
        stdout = %(stdout)s, stderr = %(stderr)s, peak_rss_mb = %(peak_rss_mb)s,
        cpu_seconds = %(cpu_seconds)s, peak_open_files = %(peak_open_files)s
    WHERE id = %(attempt)s AND EXISTS (SELECT 1 FROM t)
), j AS (
    UPDATE weft_job
    SET tasks_open = tasks_open - 1,
        status = CASE WHEN status = 'running' AND tasks_open = 1
                      THEN (CASE WHEN tasks_failed = 0 THEN 'succeeded' ELSE 'failed' END) ELSE status END,
        finished_at = CASE WHEN status = 'running' AND tasks_open = 1 THEN now() ELSE finished_at END
    WHERE id = (SELECT job_id FROM t)
    RETURNING id, status, tasks_open, tasks_total
), d AS (
    -- One INSERT, ordered, so the succeed decision always precedes the job's (CTEs run in no set order).
    INSERT INTO weft_decision (job_id, task_id, attempt_id, action, policy, observation, reason, created_at)
    SELECT job_id, task_id, attempt_id, action, policy, '{}'::jsonb, reason, now()
    FROM (
        SELECT 1 AS ord, job_id, id AS task_id, %(attempt)s::bigint AS attempt_id, 'succeed' AS action,
               'outcome.success' AS policy, %(reason)s::text AS reason
        FROM t
        UNION ALL
        SELECT 2, id, NULL, NULL, 'finish_job', 'job.complete', 'every task is final; the job ' || status
        FROM j WHERE tasks_open = 0 AND status IN ('succeeded', 'failed') AND tasks_total > 1
    ) AS x
    ORDER BY ord
)
SELECT (SELECT count(*) FROM t), (SELECT status FROM j), (SELECT tasks_open FROM j)
"""


def succeed(task_id: int, token: int, attempt_id: int, result: Any,
            obs: dict[str, Any]) -> tuple[str | None, int] | bool:
    """running -> succeeded for a task with no dependents and no parent; closes the attempt, records the
    decision, counts the job down and finishes it if this was its last task. The result is stored on the
    task only (the attempt keeps a result only when it was discarded, see engine._discard).

    Returns False if the fence refused it or the task has dependents now (the caller falls back), else
    (the job's new final status or None, how many of its tasks are still open).
    """
    applied, status, tasks_open = _fetchone(SUCCEED, {"task": task_id, "token": token, "attempt": attempt_id,
                                                      "result": _json(result), "reason": f"attempt {token} succeeded",
                                                      **obs})
    if not applied:
        return False
    return (str(status) if tasks_open == 0 and status in ("succeeded", "failed") else None), int(tasks_open or 0)
