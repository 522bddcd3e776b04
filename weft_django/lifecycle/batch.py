"""A chunk of tasks one message carries (``weft_django.execute_many``): claimed in one statement, their
successes recorded in one statement.

Both are the single-task statements (``claim.CLAIM``, ``report.SUCCEED``) applied to many rows at once, with
the same guards row by row: each task is claimed by a compare-and-set on its own token, gets its own lease
and attempt row, and each success is fenced on its own token. What a statement does not take is left to
the single path, which decides it exactly as for a message of its own: ``claim_many`` leaves out governed
tasks (limits, locks: admission.py), jobs with an attempt or token budget or a deadline, and stale or duplicate
tokens, and the worker claims each of those singly at its turn (the ORM version, also on SQLite and while
a policy with a time window is in force: every task claimed singly). A success ``succeed_many`` did not
apply (its lease was lost, a need now depends on it) is recorded singly by ``report.record``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db import transaction

from .. import signals
from ..conf import settings
from ..outcomes import Observation
from . import graph, ledger, pg, policing, report
from .claim import JSON_FIELDS, TASK_FIELDS, Claimed, _claimed_fast

# Rows are taken in task id order (the input is sorted), as stop_job locks a job's live tasks: two chunks,
# or a chunk and a stop, never wait on each other in a circle.
CLAIM_MANY = f"""
WITH i AS (
    SELECT task, token FROM unnest(%(tasks)s::bigint[], %(tokens)s::integer[]) AS i(task, token)
), j AS (
    -- The jobs by primary key (= ANY, no join: a generic plan built on small tables joined by scanning them).
    SELECT id, max_cost FROM weft_job
    WHERE id = ANY(ARRAY(SELECT job_id FROM weft_task WHERE id = ANY(%(tasks)s::bigint[])))
      AND (status = 'running') IS TRUE AND max_attempts IS NULL AND deadline IS NULL AND max_tokens IS NULL
), t AS (
    UPDATE weft_task AS t
    SET status = 'running', attempts = t.attempts + 1, started_at = now(), worker = %(worker)s, not_before = NULL,
        lease_expires_at = now() + make_interval(secs => %(lease)s)
    FROM i
    WHERE t.id = ANY(%(tasks)s::bigint[]) AND i.task = t.id AND (t.status = 'queued') IS TRUE
      AND t.attempts = i.token AND NOT t.governed AND (t.job_id = ANY(ARRAY(SELECT id FROM j))) IS TRUE
    RETURNING t.id, i.token, {", ".join(f"t.{f}" for f in TASK_FIELDS)}
), a AS (
    INSERT INTO weft_attempt (task_id, job_id, number, outcome, worker, pid, celery_id, started_at, error_type,
                              error_message, traceback, stdout, stderr, limit_hit, cost)
    SELECT id, job_id, token + 1, 'running', %(worker)s, %(pid)s, %(celery_id)s, now(), '', '', '', '', '', '', 0
    FROM t
    RETURNING id, task_id
)
SELECT t.*, j.max_cost, a.id FROM t JOIN a ON a.task_id = t.id JOIN j ON j.id = t.job_id
"""

CLAIM_MANY_KEYS = ("id", "token", *TASK_FIELDS, "job__max_cost", "attempt_id")


def claim_many(pairs: Sequence[tuple[int, int]], *, worker: str, pid: int, celery_id: str) -> dict[int, Claimed]:
    """Claim every (task id, token) the statement may take, in one statement; the Claimed of each, by task id.

    Empty where there is no statement (not PostgreSQL, or WEFT_FAST_PATH off) or a policy's time window
    asks every claim (policy_gate.py): then each is claimed singly at its turn, as by a message of its own.
    """
    if not pairs or not pg.enabled() or policing.claim_rules_exist():
        return {}
    ordered = sorted(set(pairs))
    rows = pg.fetchall(CLAIM_MANY, {"tasks": [t for t, _ in ordered], "tokens": [k for _, k in ordered],
                                    "worker": worker, "pid": pid, "celery_id": celery_id,
                                    "lease": float(settings.LEASE_SECONDS)})
    claimed = {}
    for row in rows:
        out = dict(zip(CLAIM_MANY_KEYS, row, strict=True))
        for k in JSON_FIELDS:
            out[k] = pg.loads(out[k])
        claimed[out["id"]] = _claimed_fast(out["id"], out["token"], out)
    return claimed


SUCCEED_MANY = f"""
WITH i AS (
    SELECT * FROM unnest(%(tasks)s::bigint[], %(tokens)s::integer[], %(attempts)s::bigint[], %(results)s::text[],
                         %(reasons)s::text[], %(duration)s::float8[], %(exit_code)s::integer[], %(stdout)s::text[],
                         %(stderr)s::text[], %(peak_rss_mb)s::float8[], %(cpu_seconds)s::float8[],
                         %(peak_open_files)s::integer[])
        AS i(task, token, attempt, result, reason, {", ".join(ledger.OBSERVED)})
), t AS (
    UPDATE weft_task AS t SET status = 'succeeded', result = i.result::jsonb, error = '', finished_at = now(),
                              lease_expires_at = NULL
    FROM i
    WHERE t.id = ANY(%(tasks)s::bigint[]) AND i.task = t.id AND t.attempts = i.token AND (t.status = 'running') IS TRUE
      AND NOT t.has_dependents  -- a need added while it ran may depend on it: the single path releases it
    RETURNING t.id, t.job_id
), a AS (
    {ledger.SQL_CLOSE_SUCCEEDED_MANY}
), c AS (
    SELECT job_id, count(*) AS n FROM t GROUP BY job_id
), jl AS (
    -- The jobs locked in id order before they are counted down: two chunks of the same jobs never deadlock.
    -- (= ANY(ARRAY(...)) and no join, here and below: by primary key, whatever the generic plan thinks of c.)
    SELECT id FROM weft_job WHERE id = ANY(ARRAY(SELECT job_id FROM c)) ORDER BY id FOR UPDATE
), j AS (
    UPDATE weft_job AS j
    SET tasks_open = j.tasks_open - (SELECT n FROM c WHERE c.job_id = j.id),
        status = CASE WHEN j.status = 'running' AND j.tasks_open = (SELECT n FROM c WHERE c.job_id = j.id)
                      THEN (CASE WHEN j.tasks_failed = 0 THEN 'succeeded' ELSE 'failed' END) ELSE j.status END,
        finished_at = CASE WHEN j.status = 'running' AND j.tasks_open = (SELECT n FROM c WHERE c.job_id = j.id)
                           THEN now() ELSE j.finished_at END
    WHERE j.id = ANY(ARRAY(SELECT id FROM jl))
    RETURNING j.id, j.status, j.tasks_open, j.tasks_total
), d AS ({ledger.SQL_SUCCEED_MANY_DECISIONS})
SELECT 'task', id, job_id, NULL, NULL FROM t
UNION ALL
SELECT 'job', id, id, status, tasks_open FROM j
"""


def succeed_many(done: Sequence[tuple[Claimed, Observation]], busy: Collection[int] = ()) -> set[int]:
    """running -> succeeded for each (claimed task, its success, made ``storable`` and a
    ``report.fast_success``) as ``report._succeed_fast`` does one, in one statement. Returns the task ids it
    applied to; the others (fenced out, or with dependents now) are the caller's to record singly.

    ``busy``: jobs the caller still holds running tasks of (the rest of its chunk), which cannot be stuck:
    the check after a success that leaves its job open is skipped for them (the chunk's last flush makes it).
    """
    if not done:
        return set()
    cols: dict[str, list[Any]] = {k: [] for k in ("tasks", "tokens", "attempts", "results", "reasons",
                                                  *ledger.OBSERVED)}
    for c, obs in sorted(done, key=lambda d: d[0].task_id):
        for k, v in (("tasks", c.task_id), ("tokens", c.token), ("attempts", c.attempt_id),
                     ("results", pg.dumps(obs.outcome.value)), ("reasons", report.succeeded_reason(c.token)),
                     *ledger.observed(obs).items()):
            cols[k].append(v)
    applied: set[int] = set()
    going: list[int] = []
    for kind, pk, job_id, status, tasks_open in pg.fetchall(SUCCEED_MANY, cols):
        if kind == "task":
            applied.add(pk)
            signals.send_on_commit(signals.task_finished, job_id=job_id, task_id=pk, status="succeeded")
        elif tasks_open == 0 and status in ("succeeded", "failed"):
            signals.send_on_commit(signals.job_finished, job_id=job_id, status=str(status))
        elif tasks_open and job_id not in busy:
            going.append(job_id)
    for job_id in going:
        # As after a single success: if none of the job's other tasks can run, it is stuck.
        with transaction.atomic():
            graph.stop_if_stuck(job_id)
    return applied
