"""The bulk workloads, one system per process: ``python -m bench.workloads --system d --workload fanout --n 10000``.

- ``fanout``: one fan-out of N no-op tasks. (a) and (b): a Celery ``group`` of N signatures; (c): procrastinate's
  ``batch_defer`` of N jobs; (d): one weft job of N tasks, every attempt and decision kept.
- ``many``: N separate submissions at once. (a) and (b): ``apply_async`` in a loop; (c): ``batch_defer``;
  (d): ``weft_django.submit_many`` of N one-task jobs.

Throughput = N / (last completion - first enqueue), as producer.py measures the lone tasks: the clock starts
before the first enqueue and stops at the system's own record of the last completion (the Redis end stamp for
(a), which records nothing else; for the others, polling their rows until none is open). The same warm-up,
workers and no-op body as the lone workload. Writes a JSON file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench import procstat, sidechannel, sqlcount, systems
from bench.producer import Monitor, arguments, start, wait_for, warm_up

WORKLOADS = {"fanout": "one fan-out of N tasks (a Celery group; procrastinate batch_defer; one weft job)",
             "many": "N submissions at once (apply_async in a loop; procrastinate batch_defer; weft submit_many)"}


def _group(n: int, app_module: str) -> None:
    import importlib

    from celery import group

    noop = importlib.import_module(app_module).noop
    group(noop.s(False, n) for _ in range(n)).apply_async()


def _batch_defer(n: int) -> None:
    from bench.procrastinate_app import noop

    kwargs: dict[str, Any] = {"stamp": False, "target": n}
    noop.batch_defer(*(kwargs for _ in range(n)))


def _loop(system: systems.System, n: int) -> None:
    for _ in range(n):
        system.enqueue(False, n)


def _weft_job(n: int) -> None:
    from weft_django import service

    service.submit_job({"name": "fanout", "tasks": [{"key": f"t{i}", "skill": "bench.noop", "params": {"target": n}}
                                                    for i in range(n)]})


def _weft_many(n: int) -> None:
    from weft_django import service

    service.submit_many([{"skill": "bench.noop", "params": {"target": n}} for _ in range(n)])


def enqueuer(workload: str, system: systems.System) -> Callable[[int], None]:
    """How ``system`` sends the workload's N tasks."""
    if system.name in ("a", "b"):
        if workload == "fanout":
            module = "bench.celery_a" if system.name == "a" else "bench.celery_b"
            return lambda n: _group(n, module)
        return lambda n: _loop(system, n)
    if system.name == "c":
        return _batch_defer
    return _weft_job if workload == "fanout" else _weft_many


def run(system: systems.System, workload: str, n: int, worker_pids: list[int]) -> dict[str, Any]:
    mon = Monitor(system.database, worker_pids)
    enqueued = warm_up(system, 40, 120.0)
    send = enqueuer(workload, system)
    sidechannel.reset()
    groups = mon.groups()
    snap0 = procstat.snapshot(groups)
    t0 = time.time()
    send(n)
    t_enqueued = time.time()
    wait_for(lambda: sidechannel.end_time() > 0, max(120.0, n / 20), f"{n} tasks to run", 0.01)
    with sqlcount.paused():
        wait_for(lambda: system.finished(enqueued + n), 120.0, f"{n} tasks to be recorded", 0.002)
    t_end = sidechannel.end_time() if system.name == "a" else time.time()
    cpu = procstat.cpu_delta_ms(snap0, procstat.snapshot({**groups, **mon.groups()}))
    return {"workload": workload, "n": n, "enqueue_seconds": round(t_enqueued - t0, 4),
            "enqueue_rate": round(n / (t_enqueued - t0), 1), "seconds": round(t_end - t0, 4),
            "throughput": round(n / (t_end - t0), 1), "cpu_ms_per_task_total": round(sum(cpu.values()) / n, 3),
            "cpu_ms_per_task": {k: round(v / n, 3) for k, v in sorted(cpu.items())}}


def table(workloads: dict[str, dict[str, Any]]) -> list[str]:
    """The report's lines: per workload, each system's throughput and what weft's is of each peer's."""
    lines = []
    for name, by_system in workloads.items():
        d = by_system.get("d", {}).get("throughput")
        lines += [f"### {name}: {WORKLOADS.get(name, '')}", "",
                  "| system | N | tasks/s (end to end) | enqueue s | CPU ms/task | weft = x this |",
                  "|---|---:|---:|---:|---:|---:|"]
        for s, r in by_system.items():
            ratio = f"{d / r['throughput']:.2f}" if d and r.get("throughput") and s != "d" else "-"
            lines.append(f"| ({s}) {r.get('title', '')} | {r['n']} | {r['throughput']} | {r['enqueue_seconds']} "
                         f"| {r['cpu_ms_per_task_total']} | {ratio} |")
        lines.append("")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = arguments(__doc__)
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--n", type=int, default=10_000)
    a = p.parse_args(argv)
    result = run(start(a), a.workload, a.n, a.worker_pids)
    with open(a.out, "w") as f:
        json.dump({"system": a.system, **result}, f, indent=1)


if __name__ == "__main__":
    main()
