"""The benchmark runner behind ``python bench/run.py``: databases, workers, producers, results.

For each system: a fresh database (bench_b, bench_c, bench_d; plain Celery uses none), migrate, flush
the bench Redis db, start the system's own workers, run its producer (bench/producer.py) and stop the
workers by PID, on error too. Then weft's extra targets (bench/weft_profile.py, bench/weft_scale.py)
and, optionally, a cProfile'd run of weft's workers. Writes <out>/<timestamp>.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from bench import procstat, report, systems
from bench.arguments import ROOT, parse, versions
from bench.weft_profile import summarize


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Run:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.tmp = Path(tempfile.mkdtemp(prefix="weft-bench-"))
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                    "BENCH_PG_URL": a.pg, "BENCH_REDIS_URL": a.redis, "BENCH_PREFETCH": str(a.prefetch),
                    "BENCH_WEFT_PREFETCH": str(a.weft_prefetch), "BENCH_WEFT_GROUP_MS": str(a.weft_group_ms),
                    "BENCH_DB_REUSE_MAX": str(a.db_reuse_max),
                    "BENCH_SERVER_SIDE_BINDING": "1" if a.server_side_binding else "0"}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.procs: list[subprocess.Popen[bytes]] = []

    # -- infrastructure
    def fresh_database(self, name: str, settings: str) -> None:
        self.drop_databases(name)
        with psycopg.connect(f"{self.a.pg}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.python(["-m", "django", "migrate", "--verbosity", "0"], settings, name)

    def python(self, args: list[str], settings: str | None, database: str | None, **env: str) -> None:
        e = {**self.env, **env}
        if settings:
            e["DJANGO_SETTINGS_MODULE"] = settings
        if database:
            e["BENCH_DB"] = database
        subprocess.run([sys.executable, *args], env=e, cwd=ROOT, check=True)

    def flush_redis(self) -> None:
        redis.Redis.from_url(self.a.redis).flushdb()  # only the bench db (10 by default), never FLUSHALL

    def start_workers(self, spec: systems.Spec, count_dir: Path, **env: str) -> list[int]:
        e = {**self.env, "BENCH_COUNT_DIR": str(count_dir), "BENCH_ROLE": "worker", **env}
        if spec.settings:
            e["DJANGO_SETTINGS_MODULE"] = spec.settings
        if spec.database:
            e["BENCH_DB"] = spec.database
        pids = []
        for i, cmd in enumerate(spec.workers):
            logf = (self.tmp / f"worker-{spec.name}-{i}.log").open("wb")
            # Own session: the worker and its pool children form one process group we can end by its id.
            p = subprocess.Popen(cmd, env=e, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append(p)
            pids.append(p.pid)
        return pids

    def stop_workers(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # the group we created: pool children left behind, if any
            p.wait()
        self.procs.clear()

    # -- measurements
    def system(self, spec: systems.Spec, n: int, latency_n: int, **env: str) -> dict[str, Any]:
        return self.measure(spec, ["-m", "bench.producer", "--n", str(n), "--latency-n", str(latency_n)],
                            f"n={n} latency-n={latency_n}", **env)

    def workload(self, spec: systems.Spec, workload: str, n: int) -> dict[str, Any]:
        """One bulk workload (bench/workloads.py) on one system; (d)'s workers with WEFT_BATCH_SIZE if given."""
        env = {"BENCH_WEFT_BATCH_SIZE": str(self.a.weft_batch_size)} if self.a.weft_batch_size else {}
        return self.measure(spec, ["-m", "bench.workloads", "--workload", workload, "--n", str(n)],
                            f"{workload} n={n}", **env)

    def measure(self, spec: systems.Spec, producer: list[str], what: str, **env: str) -> dict[str, Any]:
        if spec.database:
            log(f"({spec.name}) fresh database {spec.database}, migrate")
            self.fresh_database(spec.database, spec.settings or "")
        self.flush_redis()
        count_dir = self.tmp / f"counts-{spec.name}-{time.monotonic_ns()}"
        count_dir.mkdir()
        out = self.tmp / f"result-{spec.name}.json"
        try:
            pids = self.start_workers(spec, count_dir, **env)
            log(f"({spec.name}) workers {pids}; producer: {what}")
            self.python([*producer, "--system", spec.name, "--worker-pids", ",".join(map(str, pids)),
                         "--count-dir", str(count_dir), "--out", str(out)], spec.settings, spec.database, **env)
        except subprocess.CalledProcessError:
            for f in sorted(self.tmp.glob(f"worker-{spec.name}-*.log")):
                log(f"--- {f.name} (tail)\n{f.read_text(errors='replace')[-3000:]}")
            raise
        finally:
            self.stop_workers()
            self.flush_redis()
        data: dict[str, Any] = json.loads(out.read_text())
        data["title"] = spec.title
        return data

    def weft_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        if self.a.profile_n:
            out = self.tmp / "weft-profile.json"
            log("(d) statements per step and in-process profile")
            self.python(["-m", "bench.weft_profile", "--n", str(self.a.profile_n), "--out", str(out)],
                        "bench.settings_d", "bench_d", BENCH_COUNT_DIR=str(self.tmp))
            extras["weft_steps"] = json.loads(out.read_text())
            self.flush_redis()
        if self.a.scale_rows:
            log(f"(d) scale: bulk {self.a.bulk}, {self.a.scale_rows} task rows (database bench_scale)")
            self.fresh_database("bench_scale", "bench.settings_d")
            out = self.tmp / "weft-scale.json"
            try:
                self.python(["-m", "bench.weft_scale", "--rows", str(self.a.scale_rows), "--bulk", str(self.a.bulk),
                             "--out", str(out)], "bench.settings_d", "bench_scale")
            finally:
                self.flush_redis()
            extras["scale"] = json.loads(out.read_text())
            try:
                extras["scale"]["claim_record_interleaved"] = self.claim_record_rounds()
            finally:
                self.drop_databases("bench_scale", "bench_scale_small")  # a million rows: not worth keeping
        return extras

    def governance(self) -> dict[str, Any]:
        """(g) bench/weft_governance.py: one weft worker of 8 pool processes, a limit of 2, a rate of 20/s."""
        log("(g) limits across workers: fresh database bench_g, one worker -c 8")
        self.fresh_database("bench_g", "bench.settings_d")
        self.flush_redis()
        celery = [sys.executable, "-m", "celery", "-A", "bench.celery_d", "worker", "-P", "prefork", "-c", "8",
                  "-l", "warning", "--without-gossip", "--without-mingle", "-Q", "weft", "-n", "bench-g@%h"]
        spec = systems.Spec("g", "weft_django limits", "bench.settings_d", "bench_g", [celery])
        out = self.tmp / "weft-governance.json"
        try:
            self.start_workers(spec, self.tmp)
            time.sleep(5)  # the worker ready before the clock starts
            self.python(["-m", "bench.weft_governance", "--out", str(out)], "bench.settings_d", "bench_g")
        finally:
            self.stop_workers()
            self.flush_redis()
        data: dict[str, Any] = json.loads(out.read_text())
        return data

    def drop_databases(self, *names: str) -> None:
        with psycopg.connect(f"{self.a.pg}/postgres", autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def claim_record_rounds(self, rounds: int = 3) -> dict[str, Any]:
        """claim+record in a small and in the large table, alternately, so that the load of whatever else
        runs on the machine falls on both alike (one after the other, a busy minute decides the ratio)."""
        log(f"(d) claim+record: small vs large table, {rounds} alternating rounds")
        self.fresh_database("bench_scale_small", "bench.settings_d")
        medians: dict[str, list[float]] = {"small": [], "large": []}
        try:
            for _ in range(rounds):
                for label, db in (("small", "bench_scale_small"), ("large", "bench_scale")):
                    out = self.tmp / f"claim-record-{label}.json"
                    self.python(["-m", "bench.weft_scale", "--claim-record-only", "--out", str(out)],
                                "bench.settings_d", db)
                    data = json.loads(out.read_text())
                    medians[label].append(round(data["claim_ms_median"] + data["record_ms_median"], 3))
        finally:
            self.flush_redis()
        small, large = statistics.median(medians["small"]), statistics.median(medians["large"])
        return {"rounds_ms": medians, "small_ms": round(small, 3), "large_ms": round(large, 3),
                "ratio": round(large / small, 3)}

    def worker_profile(self, spec: systems.Spec) -> dict[str, Any]:
        prof_dir = self.tmp / "worker-profile"
        prof_dir.mkdir(exist_ok=True)
        log(f"(d) cProfile'd workers over {self.a.profile_n} tasks")
        self.system(spec, self.a.profile_n, 0, BENCH_PROFILE_DIR=str(prof_dir))
        files = sorted(prof_dir.glob("*.pstats"))
        if not files:
            return {"error": "no profile written (too few tasks per pool process?)"}
        n = sum(int(f.with_suffix(".n").read_text()) for f in files)
        return {"tasks": n, "clock": "CPU time (time.process_time) of the pool processes",
                **summarize(pstats.Stats(*map(str, files)), n)}


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    run = Run(a)
    # A SIGTERM to the runner must still stop the workers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    result: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "hardware": procstat.hardware(),
                              "versions": versions(a),
                              "config": {"n": a.n, "latency_n": a.latency_n, "prefetch": a.prefetch,
                                         "weft_prefetch": a.weft_prefetch, "db_reuse_max": a.db_reuse_max,
                                         "server_side_binding": a.server_side_binding,
                                         "pool_processes": 2, "redis": a.redis, "workloads": a.workloads,
                                         "weft_batch_size": a.weft_batch_size,
                                         "weft_group_ms": a.weft_group_ms}, "systems": {}, "workloads": {}}
    specs = systems.specs(sys.executable, db_suffix=a.db_suffix)
    try:
        for name in a.only:
            if name == "g":
                result["governance"] = run.governance()
                continue
            if "lone" in a.workloads:
                result["systems"][name] = run.system(specs[name], a.n, a.latency_n)
            for w in a.workloads:
                if w != "lone":
                    n = a.fanout_n if w == "fanout" else a.many_n
                    result["workloads"].setdefault(w, {})[name] = {
                        **run.workload(specs[name], w, n), "title": specs[name].title}
        if "d" in a.only and "lone" in a.workloads:
            result["weft"] = run.weft_extras()
            if a.profile_n:
                result["weft"]["worker_profile"] = run.worker_profile(specs["d"])
    finally:
        run.stop_workers()
    result["seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = started.strftime("%Y%m%dT%H%M%SZ")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(result))
    log(f"wrote {out / stem}.json and .md (scratch files in {run.tmp})")
    print(report.markdown(result))
