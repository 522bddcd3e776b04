"""What grouping a busy producer's publishes saves it: ``python -m bench.weft_grouping --n 2000``.

In one process, against a migrated weft database (bench.settings_d, BENCH_DB) and a broker nobody reads
(the messages are left in BENCH_REDIS_URL's db, which the caller flushes):

- ``submit``: ``weft_django.submit`` calls in a loop, each publishing its message after its commit;
- ``submit_grouped``: the same loop with WEFT_SUBMIT_GROUP_MS = ``--window`` and WEFT_BATCH_SIZE = ``--group``
  (grouping.py: one message per group), the last group flushed at the end;
- ``submit_many``: ``weft_django.submit_many`` of as many.

In ``--rounds`` alternating rounds of N / rounds each; the medians, in ms per task. Grouping saves the producer
``submit - submit_grouped`` per task (the workers' saving, a chunk claimed and recorded at once, is bench/run.py's
system (e)), and adds up to the window to the enqueue -> start of a task submitted inside a busy window.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import django


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--group", type=int, default=50)
    p.add_argument("--window", type=float, default=5.0, help="WEFT_SUBMIT_GROUP_MS, ms")
    p.add_argument("--rounds", type=int, default=10)
    a = p.parse_args(argv)
    django.setup()
    from django.test import override_settings

    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)
    from weft_django import grouping, service

    out: dict[str, Any] = {"n": a.n, "group": a.group, "window_ms": a.window, "rounds": a.rounds}
    for _ in range(50):  # warm: connections, prepared statements, the skill's resolved shape
        service.submit("bench.noop", {})
    def published(m: int) -> None:
        for _ in range(m):
            service.submit("bench.noop", {})

    def grouped(m: int) -> None:
        with override_settings(WEFT_SUBMIT_GROUP_MS=a.window, WEFT_BATCH_SIZE=a.group):
            published(m)
            grouping._grouper.flush()

    def many(m: int) -> None:
        service.submit_many([{"skill": "bench.noop"} for _ in range(m)])

    # The modes alternate in short rounds, so that a change in the machine's load falls on each alike.
    m = a.n // a.rounds
    times: dict[str, list[float]] = {"submit_ms": [], "submit_grouped_ms": [], "submit_many_ms": []}
    for _ in range(a.rounds):
        for name, call in (("submit_ms", published), ("submit_grouped_ms", grouped), ("submit_many_ms", many)):
            t = time.perf_counter()
            call(m)
            times[name].append((time.perf_counter() - t) * 1000 / m)
    out.update({k: round(statistics.median(v), 4) for k, v in times.items()})
    out["grouping_saves_ms"] = round(out["submit_ms"] - out["submit_grouped_ms"], 4)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
