"""Where weft's time goes per task: the SQL of one submit, claim and record, and a profile of each.

Runs in-process against the (d) database with no worker running (``python -m bench.weft_profile``):
submit N one-task jobs, then run each through ``execution.runner.execute`` as a worker would (claim,
run the no-op skill, record). Reports the statements of each step, client-side database time (Django
``execute_wrapper``, BEGIN/COMMIT excluded), and cProfile self time grouped by library.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_d")

BUCKETS = (  # first match wins: (label, substring of the file path)
    ("psycopg: database round trips", "/psycopg/"),
    ("Django ORM: SQL building, model instances", "/django/db/"),
    ("Django other", "/django/"),
    ("jsonschema validation", "/jsonschema"),
    ("Celery/kombu/billiard: publish (producer), trace and pool (worker)", "/kombu/"),
    ("Celery/kombu/billiard: publish (producer), trace and pool (worker)", "/celery/"),
    ("Celery/kombu/billiard: publish (producer), trace and pool (worker)", "/billiard/"),
    ("redis-py: the publish's LPUSH (producer), the bench body's INCR (worker)", "/redis/"),
    ("weft_django", "/weft_django/"),
    ("the bench skill body", "/bench/"),
)


def bucket(filename: str) -> str:
    for label, part in BUCKETS:
        if part in filename:
            return label
    return "Python stdlib / builtins / other"


def summarize(stats: pstats.Stats, n: int, top: int = 20) -> dict[str, Any]:
    """Self time per library bucket and the top functions by cumulative time, in ms per task."""
    buckets: dict[str, float] = {}
    rows = []
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        label = bucket(filename)
        buckets[label] = buckets.get(label, 0.0) + tottime
        rows.append((cumtime, tottime, ncalls, f"{filename.split('site-packages/')[-1]}:{line}({func})"))
    rows.sort(reverse=True)
    by_self = sorted(rows, key=lambda r: -r[1])[:top]
    weft = [r for r in rows if "/weft_django/" in r[3]][:top]
    return {
        "self_ms_per_task": {k: round(v * 1000 / n, 3) for k, v in sorted(buckets.items(), key=lambda kv: -kv[1])},
        "top_cumulative": [{"function": name, "calls_per_task": round(nc / n, 2),
                            "cum_ms_per_task": round(cum * 1000 / n, 3), "self_ms_per_task": round(tot * 1000 / n, 3)}
                           for cum, tot, nc, name in rows[:top]],
        "top_self": [{"function": name, "calls_per_task": round(nc / n, 2),
                      "self_ms_per_task": round(tot * 1000 / n, 3)} for _cum, tot, nc, name in by_self],
        "weft_functions": [{"function": name.split("/weft_django/")[-1], "calls_per_task": round(nc / n, 2),
                            "cum_ms_per_task": round(cum * 1000 / n, 3)} for cum, _tot, nc, name in weft],
    }


@contextmanager
def db_timer(acc: list[float]) -> Iterator[None]:
    from django.db import connection

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            acc.append(time.perf_counter() - t)

    with connection.execute_wrapper(wrapper):
        yield


def statements(fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Run ``fn`` and list the SQL it sent (Django's capture) plus psycopg's own BEGIN/COMMIT count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench import sqlcount

    before = sqlcount.read_all(os.environ["BENCH_COUNT_DIR"])
    with CaptureQueriesContext(connection) as q:
        value = fn()
    d = sqlcount.delta(before, sqlcount.read_all(os.environ["BENCH_COUNT_DIR"]))["profile"]
    sql = [" ".join(x["sql"].split())[:300] for x in q.captured_queries]
    return value, {"queries": len(sql), "begin_commit": d["commands"], "round_trips": d["queries"] + d["commands"],
                   "sql": sql}


START_PATH = ("submit: before its statement", "submit: its statement (round trip, commit)", "submit: publish",
              "submit: the rest", "execute: before the claim", "claim statement (round trip, commit)",
              "claim -> skill body", "body -> record statement", "record statement (round trip, commit)")


def start_path(n: int, submit: Callable[[], Any], run: Callable[[int], Any], task_of: Callable[[Any], int]
               ) -> dict[str, dict[str, dict[str, float]]]:
    """Wall time of each step from ``submit`` to the skill's body and its record, one task at a time (p50 and
    p90, ms), with the commits synchronous and then with ``synchronous_commit = off`` for this session: the
    difference is what the WAL flushes cost on the way."""
    from django.db import connection

    from bench import sidechannel
    from weft_django import dispatch

    marks: dict[str, list[float]] = {"sql": [], "publish": [], "body": []}
    body, publish = sidechannel.body, dispatch.publish

    def stamp_sql(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        marks["sql"].append(time.perf_counter())
        try:
            return execute(sql, params, many, context)
        finally:
            marks["sql"].append(time.perf_counter())

    def stamp_publish(items: Any) -> Any:
        marks["publish"].append(time.perf_counter())
        try:
            return publish(items)
        finally:
            marks["publish"].append(time.perf_counter())

    def stamp_body(stamp: bool = False, target: int = 0) -> None:
        marks["body"].append(time.perf_counter())
        body(stamp, target)

    out = {}
    sidechannel.body, dispatch.publish = stamp_body, stamp_publish
    try:
        for commit in ("on", "off"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [commit])
            steps: list[list[float]] = [[] for _ in START_PATH]
            for _ in range(n):
                for v in marks.values():
                    v.clear()
                with connection.execute_wrapper(stamp_sql):
                    t0 = time.perf_counter()
                    job = submit()
                    t1 = time.perf_counter()
                    inserted = marks["sql"][:2]  # the submit's one statement (the fast path's)
                    task_id = task_of(job)
                    marks["sql"].clear()
                    t2 = time.perf_counter()
                    run(task_id)
                # the first statement of the execute is the claim, the last the record
                (i0, i1), (p0, p1), (b,) = inserted, marks["publish"], marks["body"]
                (c0, c1), (r0, r1) = marks["sql"][:2], marks["sql"][-2:]
                spans = (i0 - t0, i1 - i0, p1 - p0, t1 - i1 - (p1 - p0), c0 - t2, c1 - c0, b - c1, r0 - b, r1 - r0)
                for k, seconds in enumerate(spans):
                    steps[k].append(seconds * 1000)
                time.sleep(0.003)  # one task at a time, as the latency run sends them
            out[f"synchronous_commit={commit}"] = {
                name: {"p50": round(sorted(v)[len(v) // 2], 3), "p90": round(sorted(v)[int(len(v) * 0.9)], 3)}
                for name, v in zip(START_PATH, steps, strict=True)}
    finally:
        sidechannel.body, dispatch.publish = body, publish
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('synchronous_commit', 'on', false)")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    os.environ["BENCH_ROLE"] = "profile"
    os.environ.setdefault("BENCH_COUNT_DIR", tempfile.mkdtemp(prefix="bench-profile-"))
    from bench import sqlcount

    sqlcount.install()
    import django

    django.setup()
    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)
    import weft_django
    from weft_django.execution import runner
    from weft_django.lifecycle import claim as claiming
    from weft_django.lifecycle import report
    from weft_django.models import Task

    def task_of(job: Any) -> int:
        return int(Task.objects.filter(job=job).values_list("pk", flat=True).get())

    runner.execute(task_of(weft_django.submit("bench.noop", {})), 0)  # warm: imports, connections, caches
    out: dict[str, Any] = {}
    job, out["submit"] = statements(lambda: weft_django.submit("bench.noop", {}))
    task_id = task_of(job)
    claimed, out["claim"] = statements(lambda: claiming.claim(task_id, 0, worker="bench-profile"))
    obs = runner.run(claimed)
    _, out["record"] = statements(lambda: report.record(claimed, obs))

    # Timed pass without the profiler (its overhead would inflate wall time), then a profiled pass.
    db: dict[str, list[float]] = {"submit": [], "execute": []}
    t = time.perf_counter()
    with db_timer(db["submit"]):
        jobs = [weft_django.submit("bench.noop", {}) for _ in range(a.n)]
    submit_s = time.perf_counter() - t
    ids = [task_of(j) for j in jobs]
    t = time.perf_counter()
    with db_timer(db["execute"]):
        for task_id in ids:
            runner.execute(task_id, 0, worker="bench-profile")
    execute_s = time.perf_counter() - t

    prof_submit, prof_exec = cProfile.Profile(), cProfile.Profile()
    prof_submit.enable()
    jobs = [weft_django.submit("bench.noop", {}) for _ in range(a.n)]
    prof_submit.disable()
    ids = [task_of(j) for j in jobs]
    prof_exec.enable()
    for task_id in ids:
        runner.execute(task_id, 0, worker="bench-profile")
    prof_exec.disable()
    out["start_path"] = start_path(a.n, lambda: weft_django.submit("bench.noop", {}),
                                   lambda t: runner.execute(t, 0, worker="bench-profile"), task_of)
    out["profile"] = {
        "n": a.n,
        "submit": {"wall_ms_per_task": round(submit_s * 1000 / a.n, 3),
                   "db_ms_per_task": round(sum(db["submit"]) * 1000 / a.n, 3),
                   **summarize(pstats.Stats(prof_submit), a.n)},
        "execute": {"wall_ms_per_task": round(execute_s * 1000 / a.n, 3),
                    "db_ms_per_task": round(sum(db["execute"]) * 1000 / a.n, 3),
                    **summarize(pstats.Stats(prof_exec), a.n)},
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
