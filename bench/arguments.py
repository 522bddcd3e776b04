"""``python bench/run.py``'s options, and the versions of everything a run measures (recorded with its results)."""

from __future__ import annotations

import argparse
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench.workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTION = """Benchmark plain Celery, Celery with django-celery-results, procrastinate and weft_django on this
machine, each with a fresh database and its own workers, in one run; see docs/performance.md."""


def versions(a: argparse.Namespace) -> dict[str, Any]:
    v: dict[str, Any] = {"python": platform.python_version()}
    for pkg in ("django", "celery", "kombu", "billiard", "redis", "psycopg", "procrastinate",
                "django-celery-results", "weft-django"):
        try:
            v[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            v[pkg] = None
    with psycopg.connect(f"{a.pg}/postgres") as conn:
        v["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    v["redis_server"] = redis.Redis.from_url(a.redis).info("server")["redis_version"]
    try:
        v["weft_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        v["weft_tree_dirty"] = bool(dirty.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return v


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python bench/run.py", description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="tasks in the throughput run (default: %(default)r)")
    p.add_argument("--latency-n", type=int, default=300,
                   help="sequential tasks in the latency run (default: %(default)r)")
    p.add_argument("--only", default="a,b,c,d", help="systems to run, comma-separated (default: %(default)r)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results folder (default: bench/results)")
    p.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL, no database")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/10", help="Redis URL of the bench db (flushed!)")
    p.add_argument("--prefetch", type=int, default=4,
                   help="worker_prefetch_multiplier of (a) and (b) (default: %(default)r, Celery's)")
    p.add_argument("--weft-prefetch", type=int, default=1,
                   help="worker_prefetch_multiplier of (d) (default: %(default)r, what weft's check asks for)")
    p.add_argument("--db-reuse-max", type=int, default=1_000_000,
                   help="CELERY_DB_REUSE_MAX of (b) and (d); 0 leaves it unset, so that Celery's Django fixup "
                        "closes the connection around every task (default: %(default)r)")
    p.add_argument("--server-side-binding", action="store_true",
                   help="Django OPTIONS server_side_binding=True, prepare_threshold=5 for (b), (c), (d): "
                        "psycopg then prepares repeated statements (default: Django's client-side binding)")
    p.add_argument("--workloads", default="lone",
                   help="comma-separated: lone (tasks one by one: throughput, latency, and weft's extras), fanout "
                        "(one fan-out of --fanout-n tasks), many (--many-n submissions at once); each runs on every "
                        "system of --only (default: %(default)r)")
    p.add_argument("--fanout-n", type=int, default=10_000, help="tasks in the fanout workload (default: %(default)r)")
    p.add_argument("--many-n", type=int, default=5000, help="submissions in the many workload (default: %(default)r)")
    p.add_argument("--db-suffix", default="", help="after the systems' database names (bench_b...), so that two "
                                                   "runs on one server keep apart (default: none)")
    p.add_argument("--weft-batch-size", type=int, default=0,
                   help="WEFT_BATCH_SIZE of (d)'s workers in the fanout and many workloads (1: batching off); 0 "
                        "leaves weft's default (default: %(default)r)")
    p.add_argument("--weft-group-ms", type=float, default=5.0,
                   help="WEFT_SUBMIT_GROUP_MS of (e)'s producer: weft with a busy producer's publishes grouped "
                        "(default: %(default)r)")
    p.add_argument("--bulk", type=int, default=10_000, help="tasks in the bulk-submitted job (default: %(default)r)")
    p.add_argument("--scale-rows", type=int, default=1_000_000,
                   help="task rows for the scale checks; 0 skips them (default: %(default)r)")
    p.add_argument("--profile-n", type=int, default=300,
                   help="tasks profiled in-process and in cProfile'd workers; 0 skips (default: %(default)r)")
    a = p.parse_args(argv)
    a.only = [s.strip() for s in a.only.split(",") if s.strip()]
    a.workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
    if not set(a.workloads) <= {"lone", *WORKLOADS}:
        p.error(f"--workloads takes lone, {', '.join(WORKLOADS)}")
    if not set(a.only) <= set("abcdeg"):
        p.error("--only takes letters from a,b,c,d,e (weft, submits grouped) and g (weft's limits across workers)")
    return a
