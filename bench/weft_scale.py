"""weft's scale targets: bulk submission, status of a big job, sweep queries and claim+record at 1M rows.

Run by run.py in its own database with no worker running (``python -m bench.weft_scale --out f.json``).
Messages published by submissions pile up in the bench Redis db, which run.py flushes afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_d")


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Median and min wall milliseconds over ``repeat`` calls (after one untimed call to warm caches)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": round(statistics.median(times), 3), "min_ms": round(min(times), 3)}


def plan_nodes(plan: dict[str, Any]) -> list[str]:
    """Each node of an EXPLAIN (FORMAT JSON) plan as "Node Type [using index] [on relation]"."""
    label = plan["Node Type"]
    if plan.get("Index Name"):
        label += f" using {plan['Index Name']}"
    elif plan.get("Relation Name"):
        label += f" on {plan['Relation Name']}"
    return [label] + [n for child in plan.get("Plans", []) for n in plan_nodes(child)]


def explain(qs: Any) -> dict[str, Any]:
    data = json.loads(qs.explain(format="json", analyze=True))
    top = data[0]
    return {"nodes": plan_nodes(top["Plan"]), "execution_ms": round(top.get("Execution Time", 0.0), 3),
            "sql": str(qs.query)[:400]}


def hot_queries() -> dict[str, Any]:
    """The sweep's reads, timed and explained (they must use the partial indexes, whatever the table size)."""
    from weft_django.conf import settings
    from weft_django.models import Task

    queries = {
        "expired": lambda: Task.objects.expired().values_list("pk", "attempts", "job_id"),
        "undelivered": lambda: Task.objects.undelivered(settings.REDISPATCH_AFTER).values_list(
            "pk", "attempts", "queue", "priority"),
    }
    out: dict[str, Any] = {}
    for name, make in queries.items():
        out[name] = {**explain(make()), **timed(lambda make=make: list(make()), 10)}  # type: ignore[misc]
    try:
        from weft_django import sweep as sweep_module  # another issue's module; absent in early versions
    except ImportError:
        out["sweep"] = {"error": "weft_django.sweep does not exist yet"}
    else:
        out["sweep"] = timed(sweep_module.sweep, 5)
    return out


def hot_path_plans() -> dict[str, Any]:
    """EXPLAIN (not executed) of the claim and record statements of a fresh task: each must find its rows
    by primary key; a partial index on status there is scanned whole, dead entries included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import weft_django
    from weft_django.lifecycle import claim as claiming
    from weft_django.lifecycle import report
    from weft_django.models import Task
    from weft_django.outcomes import Observation, Outcome

    task_id = Task.objects.filter(job=weft_django.submit("bench.noop", {})).values_list("pk", flat=True).get()
    with CaptureQueriesContext(connection) as claim_sql:
        c = claiming.claim(task_id, 0, worker="bench-scale")
    assert c is not None
    with CaptureQueriesContext(connection) as record_sql:
        report.record(c, Observation(Outcome.success(None), "succeeded"))
    out: dict[str, Any] = {}
    for name, captured in (("claim", claim_sql), ("record", record_sql)):
        plans = []
        for q in captured.captured_queries:
            sql = q["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "WITH", "DELETE")):
                continue
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (FORMAT JSON) " + sql)
                raw = cur.fetchone()[0]
            plan = json.loads(raw) if isinstance(raw, str) else raw
            plans.append(plan_nodes(plan[0]["Plan"]))
        out[name] = plans
    return out


def claim_record(cycles: int) -> dict[str, Any]:
    """Claim and record fresh one-task jobs in this process: the database work of one attempt."""
    import weft_django
    from weft_django.lifecycle import claim as claiming
    from weft_django.lifecycle import report
    from weft_django.models import Task
    from weft_django.outcomes import Observation, Outcome

    ids = [Task.objects.filter(job=weft_django.submit("bench.noop", {})).values_list("pk", flat=True).get()
           for _ in range(cycles)]
    claim_ms, record_ms = [], []
    for task_id in ids:
        t = time.perf_counter()
        c = claiming.claim(task_id, 0, worker="bench-scale")
        t2 = time.perf_counter()
        assert c is not None
        report.record(c, Observation(Outcome.success(None), "succeeded"))
        claim_ms.append((t2 - t) * 1000)
        record_ms.append((time.perf_counter() - t2) * 1000)
    return {"cycles": cycles, "claim_ms_median": round(statistics.median(claim_ms), 3),
            "record_ms_median": round(statistics.median(record_ms), 3),
            "claim_record_ms_mean": round(statistics.fmean(a + b for a, b in zip(claim_ms, record_ms, strict=True)),
                                          3)}


def bulk(n: int) -> tuple[int, dict[str, Any]]:
    from weft_django import dispatch, handoff
    from weft_django.lifecycle import submit as submission
    from weft_django.resolve import resolve as resolve_spec
    from weft_django.spec import TaskSpec

    specs = [TaskSpec(skill="bench.noop", key=f"t{i}") for i in range(n)]
    t = time.perf_counter()
    job = submission.create_job(specs, submission.JobOptions(name="bulk"))
    total = time.perf_counter() - t
    t = time.perf_counter()
    for s in specs:
        resolve_spec(s)
    resolve = time.perf_counter() - t
    ready = [handoff.Ready(i, 0, "weft", 5) for i in range(n)]  # ids are never claimed: only the publish cost
    t = time.perf_counter()
    dispatch.send(ready)
    publish = time.perf_counter() - t
    return job.pk, {
        "tasks": n, "seconds": round(total, 3), "tasks_per_s": round(n / total, 1),
        "validate_seconds": round(resolve, 3), "publish_seconds": round(publish, 3),
        "insert_seconds_estimate": round(max(0.0, total - resolve - publish), 3),
    }


def fill(rows: int) -> dict[str, Any]:
    """Add ``rows`` task rows with one INSERT ... SELECT generate_series: mostly history, a few live."""
    from django.db import connection, transaction

    from weft_django.models import Job, Task

    per_job = 10_000
    t = time.perf_counter()
    with transaction.atomic():
        jobs = Job.objects.bulk_create([Job(name=f"history-{i}", status="succeeded", tasks_total=per_job)
                                        for i in range((rows + per_job - 1) // per_job)])
        exprs = {
            "job_id": "(%s::bigint[])[((g - 1) / {per_job}) + 1]".replace("{per_job}", str(per_job)),
            "key": "'h' || g", "skill_name": "'bench.noop'", "skill_version": "'1'", "params": "'{}'::jsonb",
            "limits": "'{}'::jsonb", "retry": "'{}'::jsonb", "queue": "'weft'", "priority": "5",
            "status": "CASE mod(g, 1000) WHEN 0 THEN 'running' WHEN 1 THEN 'queued' ELSE 'succeeded' END",
            "attempts": "CASE mod(g, 1000) WHEN 1 THEN 0 ELSE 1 END",
            "dispatched_at": "now()",
            "lease_expires_at": "CASE mod(g, 1000) WHEN 0 THEN now() + interval '1 day' END",
            "started_at": "CASE mod(g, 1000) WHEN 1 THEN NULL ELSE now() END",
            "finished_at": "CASE WHEN mod(g, 1000) > 1 THEN now() END",
            "created_at": "now()",
        }
        cols, values, params = [], [], []
        for f in Task._meta.concrete_fields:
            if f.primary_key:
                continue
            cols.append(f'"{f.column}"')
            if f.attname in exprs:
                values.append(exprs[f.attname])
                if f.attname == "job_id":
                    params.append([j.pk for j in jobs])
            elif f.null and not f.has_default():
                values.append("NULL")
            else:  # the model's default ("" for text fields), as Django would write it
                values.append("%s")
                params.append(f.get_db_prep_save(f.get_default(), connection))
        with connection.cursor() as cur:
            cur.execute(f"INSERT INTO {Task._meta.db_table} ({', '.join(cols)}) SELECT {', '.join(values)} "
                        f"FROM generate_series(1, {int(rows)}) AS g", params)
    inserted = time.perf_counter() - t
    # History rows are old rows: vacuumed (hint bits, visibility map) and analysed, as autovacuum would have.
    t = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(f"VACUUM ANALYZE {Task._meta.db_table}")
        cur.execute(f"VACUUM ANALYZE {Job._meta.db_table}")
    vacuumed = time.perf_counter() - t
    return {"rows": rows, "insert_seconds": round(inserted, 2), "vacuum_analyze_seconds": round(vacuumed, 2)}


def prune_history() -> dict[str, Any]:
    """Retention at scale: the history jobs (fill) made old, then pruned batch by batch as weft_prune does."""
    from datetime import timedelta

    from django.test.utils import override_settings
    from django.utils import timezone

    from weft_django import retention
    from weft_django.models import Job

    Job.objects.filter(name__startswith="history-").update(finished_at=timezone.now() - timedelta(days=365))
    with override_settings(WEFT_RETENTION={"succeeded": 30}):  # sends setting_changed: conf reads it anew
        return _prune_all(retention)


def _prune_all(retention: Any) -> dict[str, Any]:
    batches: list[float] = []
    tasks = 0
    t = time.perf_counter()
    while True:
        b = time.perf_counter()
        counts = retention.prune(max_batches=1)
        if not counts.get("job"):
            break
        batches.append((time.perf_counter() - b) * 1000)
        tasks += counts.get("task", 0)
    total = time.perf_counter() - t
    return {"tasks": tasks, "jobs": len(batches), "seconds": round(total, 2),
            "tasks_per_s": round(tasks / total) if total else 0, "longest_batch_ms": round(max(batches or [0]), 1),
            "median_batch_ms": round(sorted(batches)[len(batches) // 2], 1) if batches else 0.0}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--bulk", type=int, default=10_000)
    p.add_argument("--cycles", type=int, default=200)
    p.add_argument("--claim-record-only", action="store_true",
                   help="only time claim+record in this database (run.py alternates a small and a large one)")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    import django
    from django.conf import settings
    from django.db.models import Count

    django.setup()
    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)

    if a.claim_record_only:
        with open(a.out, "w") as f:
            json.dump(claim_record(a.cycles), f)
        return
    from weft_django import service
    from weft_django.models import Task

    # The bulk job stays queued (no worker runs here): keep the sweep from re-sending it while we time it.
    settings.WEFT_REDISPATCH_AFTER = 3600.0
    out: dict[str, Any] = {}
    job_id, out["bulk_submit"] = bulk(a.bulk)
    out["small"] = {"task_rows": Task.objects.count(), "status_ms": timed(lambda: service.status(job_id), 20),
                    "claim_record": claim_record(a.cycles), "hot_queries": hot_queries(),
                    "hot_path_plans": hot_path_plans()}
    out["fill"] = fill(a.rows)
    out["large"] = {"task_rows": Task.objects.count(), "status_ms": timed(lambda: service.status(job_id), 20),
                    "claim_record": claim_record(a.cycles), "hot_queries": hot_queries(),
                    "hot_path_plans": hot_path_plans()}
    out["status_explain"] = explain(
        Task.objects.filter(job_id=job_id).values_list("status").annotate(n=Count("pk")).order_by())
    out["prune"] = prune_history()
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
