"""The hot queries use the index meant for them, with a backlog in the table (EXPLAIN on PostgreSQL)."""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from weft_django import access
from weft_django.lifecycle import claim as claiming
from weft_django.lifecycle import report
from weft_django.lifecycle.submit import JobOptions, create_job
from weft_django.models import Job, Task
from weft_django.spec import TaskSpec

pytestmark = pytest.mark.django_db

BACKLOG = 3000


def plan(sql: str, params: Any = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.fixture
def backlog(settings: Any) -> int:
    """A job of BACKLOG queued tasks (as after a bulk submit), so partial indexes are not empty."""
    settings.WEFT_FAST_PATH = True
    job = create_job([TaskSpec(skill="t.noop", key=f"k{i}") for i in range(BACKLOG)], JobOptions())
    for _ in range(200):  # and many small jobs, as a busy site has
        create_job([TaskSpec(skill="t.noop")], JobOptions())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE weft_task")
        cursor.execute("ANALYZE weft_job")
    return int(Task.objects.filter(job=job).order_by("pk").values_list("pk", flat=True)[BACKLOG // 2])


@pytest.fixture
def many_jobs() -> None:
    """20,000 finished one-task jobs with their attempt and decision (a site after a few days), analysed: the
    tables a worker's plans meet later."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO weft_job (name, status, stop_reason, labels, cost, tokens, tasks_total, tasks_open,
                                  tasks_failed, created_at)
            SELECT 'old', 'succeeded', '', '{}'::jsonb, 0, 0, 1, 0, 0, now() FROM generate_series(1, 20000)""")
        cursor.execute("""
            INSERT INTO weft_attempt (task_id, job_id, number, outcome, worker, pid, celery_id, started_at,
                                      error_type, error_message, traceback, stdout, stderr, limit_hit, cost)
            SELECT t.id, t.job_id, 1, 'succeeded', 'w', 1, '', now(), '', '', '', '', '', '', 0
            FROM weft_task t""")
        cursor.execute("ANALYZE weft_job, weft_task, weft_attempt")


def test_plan__fast_claim_fetches_one_task_by_primary_key(backlog: int) -> None:
    text = plan(claiming.CLAIM, {"task": backlog, "token": 0, "worker": "w", "pid": 1, "celery_id": "c",
                                 "lease": 30.0})
    assert "weft_task_pkey" in text, text
    assert "weft_task_queued_idx" not in text, text
    assert "weft_job_running_deadline_idx" not in text, text  # nor the running jobs' partial index


def test_plan__fast_succeed_updates_by_primary_key(backlog: int) -> None:
    text = plan(report.SUCCEED, {"task": backlog, "token": 1, "attempt": 1, "result": "null", "reason": "r",
                                   "duration": 0.1, "exit_code": None, "stdout": "", "stderr": "",
                                   "peak_rss_mb": None, "cpu_seconds": None, "peak_open_files": None})
    assert "weft_task_pkey" in text, text
    assert "weft_task_lease_idx" not in text, text


def test_plan__a_chunks_claim_and_record_fetch_their_tasks_by_primary_key(backlog: int, many_jobs: None) -> None:
    from weft_django.lifecycle import batch, ledger

    tasks = [backlog + i for i in range(20)]
    claim = plan(batch.CLAIM_MANY, {"tasks": tasks, "tokens": [0] * 20, "worker": "w", "pid": 1, "celery_id": "c",
                                    "lease": 30.0})
    assert "weft_task_pkey" in claim, claim
    assert "weft_task_queued_idx" not in claim and "weft_job_running_deadline_idx" not in claim, claim
    cols: dict[str, Any] = {"tasks": tasks, "tokens": [1] * 20, "attempts": list(range(1, 21)),
                            "results": ["null"] * 20, "reasons": ["r"] * 20}
    cols.update({k: [None] * 20 for k in ledger.OBSERVED})
    record = plan(batch.SUCCEED_MANY, cols)
    assert "weft_task_pkey" in record and "weft_job_pkey" in record, record
    assert "weft_task_lease_idx" not in record, record
    for table in ("weft_task", "weft_job", "weft_attempt"):
        assert f"Seq Scan on {table}" not in record and f"Seq Scan on {table}" not in claim


def test_plan__sweep_reads_use_their_partial_indexes(backlog: int) -> None:
    expired = Task.objects.expired().explain()
    assert "weft_task_lease_idx" in expired, expired
    undelivered = Task.objects.undelivered(60).explain()
    assert "weft_task_queued_idx" in undelivered, undelivered


def test_plan__status_of_a_job_uses_the_job_status_index(backlog: int) -> None:
    job_id = Task.objects.order_by("-pk").values_list("job_id", flat=True)[0]
    text = Task.objects.filter(job_id=job_id).values_list("status").annotate(n=Count("pk")).order_by().explain()
    assert "weft_task_job_status_idx" in text, text


def _prepared() -> dict[str, int]:
    """This session's prepared statements of weft's fast path, with how often each ran."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements "
                       "WHERE statement LIKE '%%weft_task%%'")
        return dict(cursor.fetchall())


def _cycle(n: int) -> None:

    from weft_django.outcomes import Observation, Outcome

    for _ in range(n):
        job = create_job([TaskSpec(skill="t.noop")], JobOptions())
        task_id = Task.objects.filter(job=job).values_list("pk", flat=True).get()
        claimed = claiming.claim(task_id, 0)
        assert claimed is not None
        report.record(claimed, Observation(outcome=Outcome.success(None), duration=0.01))


def test_fast_path_statements_are_prepared_once_per_connection(settings: Any) -> None:
    # Django connects with prepare_threshold=None, under which psycopg silently ignores prepare=True:
    # each CTE would then be planned on every call (about half of PostgreSQL's time per task).
    settings.WEFT_FAST_PATH = True
    _cycle(3)
    first = _prepared()
    _cycle(4)
    after = _prepared()
    assert len(after) == 3, after  # submit, claim, succeed; and no new statement per call
    assert after.keys() == first.keys()
    assert all(after[k] - first[k] == 4 for k in after), (first, after)


def test_fast_path_prepares_nothing_when_told_not_to(settings: Any) -> None:
    settings.WEFT_FAST_PATH = True
    settings.WEFT_PREPARED_STATEMENTS = False
    before = _prepared()  # what earlier tests on this connection prepared stays, unused
    _cycle(2)
    assert _prepared() == before


def generic_plan(sql: str) -> str:
    """The plan a prepared statement settles on after its first executions (its generic plan)."""
    names: list[str] = []
    for name in re.findall(r"%\((\w+)\)s", sql):
        if name not in names:
            names.append(name)
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE weft_plan_check AS {numbered}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE weft_plan_check({', '.join('NULL' for _ in names)})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE weft_plan_check")


@pytest.mark.parametrize("with_backlog", [False, True], ids=["empty tables", "backlog"])
@pytest.mark.parametrize("name", ["submit.SUBMIT", "claim.CLAIM", "report.SUCCEED"])
def test_generic_plans_find_rows_by_primary_key(name: str, with_backlog: bool, request: Any) -> None:
    # A worker's connection prepares these once and keeps the generic plan for its whole life; built
    # while the tables were small (a fresh install, a test database) it once joined the job by a
    # sequential scan of weft_job, so every claim read every job ever submitted.
    if with_backlog:
        request.getfixturevalue("backlog")
    module, _, constant = name.partition(".")
    text = generic_plan(getattr(importlib.import_module(f"weft_django.lifecycle.{module}"), constant))
    for table in ("weft_task", "weft_job", "weft_attempt", "weft_decision"):  # the tables that grow
        assert f"Seq Scan on {table}" not in text, text
    for index in ("weft_task_job_key_uniq", "weft_task_job_status_idx", "weft_task_queued_idx",
                  "weft_task_lease_idx", "weft_job_running_deadline_idx"):
        assert index not in text, text


@pytest.mark.parametrize("name", ["batch.CLAIM_MANY", "batch.SUCCEED_MANY", "bulk.SUBMIT_MANY", "claim.CLAIM",
                                  "report.SUCCEED"])
def test_generic_plans_of_chunks_find_rows_by_primary_key_in_grown_tables(name: str, backlog: int,
                                                                          many_jobs: None) -> None:
    # A chunk's statements look rows up by = ANY(array): on tables their statistics call small the planner may
    # scan them (cheaper there), and (auto)analyze re-plans as they grow; grown, every lookup is by key.
    module, _, constant = name.partition(".")
    text = generic_plan(getattr(importlib.import_module(f"weft_django.lifecycle.{module}"), constant))
    for table in ("weft_task", "weft_job", "weft_attempt", "weft_decision"):
        assert f"Seq Scan on {table}" not in text, text
    for index in ("weft_task_job_key_uniq", "weft_task_job_status_idx", "weft_task_queued_idx",
                  "weft_task_lease_idx", "weft_job_running_deadline_idx"):
        assert index not in text, text


def test_plan__job_reads_use_the_partial_job_indexes(backlog: int, django_user_model: Any) -> None:
    # Both job indexes leave out the common job (no owner, no deadline); the reads that need them
    # must still be able to use them.
    user = django_user_model.objects.create(username="owner")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE weft_job")
    past = Job.objects.past_deadline().explain()
    assert "weft_job_running_deadline_idx" in past, past
    mine = access.visible_jobs(user).order_by("-created_at").explain()
    assert "weft_job_owner_created_idx" in mine, mine


def test_plan__tasks_awaiting_approval_use_their_partial_index(backlog: int) -> None:
    from weft_django.states import AWAITING_APPROVAL

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE weft_task")
    plan = (Task.objects.filter(status="blocked", blocked_reason=AWAITING_APPROVAL).order_by("pk")
            .values("pk")[:20].explain())
    assert "weft_task_awaiting_idx" in plan, plan


@pytest.fixture
def tallies_of_a_busy_day() -> None:
    """A day of minutes for 10 skills, 4 values, two rows each: the Tally table after a day without a
    sweep to merge and fold it (it normally holds tallies.KEEP_MINUTES of them). The last hour must still be a range
    read of its index, not a scan of the day."""
    with connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO weft_tally (minute, skill, kind, value, n)
            SELECT date_trunc('minute', now()) - make_interval(mins => m), 's' || s, 'task', v, 1
            FROM generate_series(0, 1439) m, generate_series(1, 10) s,
                 unnest(ARRAY['succeeded', 'failed', 'cancelled', 'skipped']) v, generate_series(1, 2) p""")
        cursor.execute("ANALYZE weft_tally")


def test_plan__the_dashboards_last_hour_reads_the_tally_index(tallies_of_a_busy_day: None) -> None:
    from django.db.models import Sum
    from django.utils import timezone

    from weft_django.models import Tally

    assert Tally.objects.count() == 1440 * 10 * 4 * 2
    start = timezone.now() - timedelta(minutes=59)
    text = (Tally.objects.filter(minute__gte=start).values_list("minute", "skill", "kind", "value")
            .annotate(n=Sum("n")).order_by().explain())
    assert "weft_tally_minute_idx" in text, text
    assert "Seq Scan" not in text, text


def test_plan__the_tally_triggers_read_the_task_by_primary_key(backlog: int) -> None:
    text = plan("SELECT skill_name FROM weft_task WHERE id = %s", [backlog])  # weft_tally_attempt()'s read
    assert "weft_task_pkey" in text, text
