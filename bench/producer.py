"""One system's measurements, run in its own process: ``python -m bench.producer --system d ...``.

run.py starts the workers, then this process: warm-up (which also proves the workers are ready),
the throughput run (N tasks enqueued back to back while the workers drain them, with CPU, SQL and
RSS measured around it), then the latency run (one task at a time). Writes a JSON file.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil
import psycopg

from bench import procstat, sidechannel, sqlcount, systems

POLL = 0.0005  # seconds between completion checks in the latency run


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (linear interpolation), mean and max, in milliseconds."""
    if not values:
        return {}
    v = sorted(values)

    def q(p: float) -> float:
        k = (len(v) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (k - lo)

    return {k: round(x * 1000, 3) for k, x in
            (("p50", q(0.5)), ("p95", q(0.95)), ("p99", q(0.99)), ("mean", sum(v) / len(v)), ("max", v[-1]))}


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Monitor:
    """A psycopg connection of our own (not counted) for pg_stat_* reads and process classification."""

    def __init__(self, database: str | None, worker_roots: list[int]) -> None:
        base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
        self.database = database
        self.conn = psycopg.connect(f"{base}/{database or 'postgres'}", autocommit=True)
        self.roots = worker_roots

    def groups(self) -> dict[int, str]:
        with sqlcount.paused():
            activity = self.conn.execute("SELECT pid, datname, backend_type FROM pg_stat_activity").fetchall()
        g = procstat.postgres_groups(activity, self.database)
        g.update(dict.fromkeys(procstat.pids_named("redis-server"), "redis"))
        pool = self.pool_pids()
        g.update({pid: "worker_pool" if pid in pool else "worker_main" for pid in procstat.tree(self.roots)})
        g[os.getpid()] = "producer"
        return g

    def pool_pids(self) -> list[int]:
        """The processes that run tasks: Celery's pool children, or the worker processes themselves."""
        out: list[int] = []
        for pid in self.roots:
            try:
                children = [c.pid for c in psutil.Process(pid).children()]
            except psutil.Error:
                continue
            out.extend(children or [pid])
        return out

    def db_stats(self) -> dict[str, int]:
        if self.database is None:
            return {}
        with sqlcount.paused():
            self.conn.execute("SELECT pg_stat_clear_snapshot()")
            row = self.conn.execute(
                "SELECT xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted, tup_updated,"
                " tup_deleted FROM pg_stat_database WHERE datname = %s", (self.database,)).fetchone()
            # Index entries read, per index: a hot query that scans an index instead of looking one row up
            # shows here as a number that grows with the table.
            indexes = self.conn.execute(
                "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes WHERE idx_tup_read > 0").fetchall()
        names = ("xact_commit", "xact_rollback", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated",
                 "tup_deleted")
        return {**dict(zip(names, row or (0,) * len(names), strict=True)),
                **{f"idx_tup_read:{name}": value for name, value in indexes}}


def warm_up(system: systems.System, n: int, timeout: float) -> int:
    """Run a few tasks to the end: the workers are ready, connected, and their pools are full."""
    sidechannel.reset()
    for _ in range(n):
        system.enqueue(False, 0)
    wait_for(lambda: sidechannel.done() >= n, timeout, "the warm-up tasks to run (are the workers up?)", 0.05)
    wait_for(lambda: system.finished(n), timeout, "the warm-up tasks to be recorded", 0.01)
    return n


# A PostgreSQL 15 backend that flushed its statistics less than a second ago waits up to this long
# (PGSTAT_IDLE_INTERVAL, 10 s) before it flushes again: pg_stat_database lags by as much.
PG_STATS_LAG = 11.0


def throughput(system: systems.System, mon: Monitor, n: int, count_dir: str, enqueued: int,
               stats0: dict[str, int]) -> dict[str, Any]:
    """``stats0`` was read before the warm-up (whose statistics may not have reached the server yet),
    so the server-side deltas cover the warm-up's tasks too and are divided by ``enqueued + n``."""
    sidechannel.reset()
    groups = mon.groups()
    pool = mon.pool_pids()
    rss_start = procstat.rss_mb(pool)
    counts0 = sqlcount.read_all(count_dir)
    pm = procstat.postmaster()
    reaped0 = procstat.reaped_children_ticks(pm) if pm else 0
    snap0 = procstat.snapshot(groups)
    t0 = time.time()
    for _ in range(n):
        system.enqueue(False, n)
    t_enqueued = time.time()
    wait_for(lambda: sidechannel.end_time() > 0, max(120.0, n / 20), f"{n} tasks to run", 0.01)
    t_ran = time.time()
    polls = 0

    def recorded() -> bool:
        nonlocal polls
        polls += 1
        return system.finished(enqueued + n)

    with sqlcount.paused():
        wait_for(recorded, 60.0, f"{n} tasks to be recorded", 0.002)
    t_end = sidechannel.end_time() if system.name == "a" else time.time()
    snap1 = procstat.snapshot({**groups, **mon.groups()})
    reaped = (procstat.reaped_children_ticks(pm) - reaped0) * 1000.0 / procstat.TICK if pm else 0.0
    counts1 = sqlcount.read_all(count_dir)
    rss_end = procstat.rss_mb(pool)
    if stats0:
        time.sleep(PG_STATS_LAG)
    stats1 = mon.db_stats()
    cpu = procstat.cpu_delta_ms(snap0, snap1)
    sql = sqlcount.delta(counts0, counts1)
    sql_total = sum(sum(v.values()) for v in sql.values())
    return {
        "n": n,
        "enqueue_seconds": round(t_enqueued - t0, 4),
        "enqueue_rate": round(n / (t_enqueued - t0), 1),
        "seconds": round(t_end - t0, 4),
        "throughput": round(n / (t_end - t0), 1),
        "record_lag_ms": round((t_end - t_ran) * 1000, 1),  # last body ran -> all recorded (seen by polling)
        "completion_polls": polls,
        "cpu_ms": {k: round(v, 1) for k, v in sorted(cpu.items())},
        "cpu_ms_per_task": {k: round(v / n, 3) for k, v in sorted(cpu.items())},
        "cpu_ms_per_task_total": round(sum(cpu.values()) / n, 3),
        "cpu_ms_per_task_own": round(sum(v for k, v in cpu.items() if k not in ("pg_server", "redis")) / n, 3),
        # Backends that ended inside the window (connections not kept): the postmaster's reaped-children CPU.
        # Not in the totals above: on a shared server it also holds other users' short connections.
        "cpu_ms_per_task_pg_ended_backends": round(reaped / n, 3),
        "sql": sql,
        "sql_per_task": round(sql_total / n, 2),
        "sql_per_task_by_role": {r: round(sum(v.values()) / n, 2) for r, v in sql.items()},
        "db_stats_per_task": {k: round((stats1[k] - stats0.get(k, 0)) / (enqueued + n), 2) for k in stats1
                              if not k.startswith("idx_tup_read:")},
        "index_entries_read_per_task": dict(sorted(
            ((k.split(":", 1)[1], round((stats1[k] - stats0.get(k, 0)) / (enqueued + n), 2))
             for k in stats1 if k.startswith("idx_tup_read:")), key=lambda kv: -kv[1])),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "processes": {g: sorted(p for p, gg in groups.items() if gg == g) for g in set(groups.values())},
    }


def latency(system: systems.System, n: int) -> dict[str, Any]:
    sidechannel.reset()
    to_start, to_done = [], []
    for i in range(n):
        t = time.time()
        handle = system.enqueue(True, 0)
        ran: Callable[[], bool] = lambda i=i: sidechannel.done() > i  # type: ignore[misc]  # noqa: E731
        recorded: Callable[[], bool] = lambda h=handle: system.is_done(h)  # type: ignore[misc]  # noqa: E731
        wait_for(ran, 30.0, "a latency task to run", POLL)
        with sqlcount.paused():
            wait_for(recorded, 30.0, "a latency task to be recorded", POLL)
        to_done.append(time.time() - t)
        to_start.append(sidechannel.start_time() - t)
    return {"n": n, "poll_ms": POLL * 1000, "enqueue_to_start": percentiles(to_start),
            "enqueue_to_done": percentiles(to_done)}


def arguments(description: str | None) -> argparse.ArgumentParser:
    """The options every producer process takes from run.py (the system, its workers, where to write)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--system", required=True, choices="abcde")
    p.add_argument("--worker-pids", required=True, type=lambda v: [int(x) for x in v.split(",")])
    p.add_argument("--count-dir", required=True)
    p.add_argument("--out", required=True)
    return p


def start(a: argparse.Namespace) -> systems.System:
    """This process as the system's producer: its SQL counted, the system's adapter loaded."""
    os.environ["BENCH_COUNT_DIR"], os.environ["BENCH_ROLE"] = a.count_dir, "producer"
    sqlcount.install()
    return systems.load(a.system)


def main(argv: list[str] | None = None) -> None:
    p = arguments(__doc__)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--latency-n", type=int, default=300)
    p.add_argument("--warmup", type=int, default=40)
    a = p.parse_args(argv)
    system = start(a)
    mon = Monitor(system.database, a.worker_pids)
    result: dict[str, Any] = {"system": a.system}
    t = time.monotonic()
    stats0 = mon.db_stats()
    enqueued = warm_up(system, a.warmup, 120.0)
    result["warmup_seconds"] = round(time.monotonic() - t, 2)
    if a.n:
        result["throughput"] = throughput(system, mon, a.n, a.count_dir, enqueued, stats0)
    if a.latency_n:
        result["latency"] = latency(system, a.latency_n)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
