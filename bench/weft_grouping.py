"""What grouping a busy producer's publishes could save: ``python -m bench.weft_grouping --n 2000``.

In one process, against a migrated weft database (bench.settings_d, BENCH_DB) and a broker nobody reads
(the messages are left in BENCH_REDIS_URL's db, which the caller flushes):

- ``submit``: ``weft_django.submit`` calls in a loop, each publishing its message after its commit;
- ``submit_grouped``: the same loop with each publish held back, then the messages published in groups of
  ``--group`` through one producer each (what grouping would do, without its delay);
- ``submit_many``: ``weft_django.submit_many`` of as many.

In ``--rounds`` alternating rounds of N / rounds each; the medians, in ms per task. Grouping could save at most
``submit - submit_grouped`` per task, and would add up to the group's delay to each task's enqueue -> start.
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
    p.add_argument("--rounds", type=int, default=10)
    a = p.parse_args(argv)
    django.setup()
    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)
    from weft_django import dispatch, handoff, service
    from weft_django.lifecycle import submit

    out: dict[str, Any] = {"n": a.n, "group": a.group, "rounds": a.rounds}
    for _ in range(50):  # warm: connections, prepared statements, the skill's resolved shape
        service.submit("bench.noop", {})
    kept: list[handoff.Ready] = []

    def keep(items: list[handoff.Ready]) -> handoff.Delivery:
        kept.extend(items)
        return handoff.Delivery(len(items))

    def published(m: int) -> None:
        for _ in range(m):
            service.submit("bench.noop", {})

    def grouped(m: int) -> None:
        kept.clear()
        real, submit.after_commit = submit.after_commit, keep
        try:
            published(m)
        finally:
            submit.after_commit = real
        for start in range(0, len(kept), a.group):
            dispatch.publish(kept[start:start + a.group])

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
