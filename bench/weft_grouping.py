"""What grouping a busy producer's publishes could save: ``python -m bench.weft_grouping --n 2000``.

In one process, against a migrated weft database (bench.settings_d, BENCH_DB) and a broker nobody reads
(the messages are left in BENCH_REDIS_URL's db, which the caller flushes):

- ``submit``: N ``weft_django.submit`` calls in a loop, each publishing its message after its commit;
- ``submit_unpublished``: the same loop with the publish taken out (the Ready items kept instead);
- ``publish_grouped``: those N messages published in groups of ``--group`` through one producer each;
- ``submit_many``: one ``weft_django.submit_many`` of N.

Grouping could save at most ``submit - submit_unpublished - publish_grouped`` per task, and would add up to
the group's delay to each task's enqueue -> start. Prints JSON (ms per task).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import django


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--group", type=int, default=50)
    a = p.parse_args(argv)
    django.setup()
    import bench.celery_d  # noqa: F401  (the app dispatch publishes through)
    from weft_django import dispatch, handoff, service
    from weft_django.lifecycle import submit

    def per_task(seconds: float) -> float:
        return round(seconds * 1000 / a.n, 4)

    out: dict[str, Any] = {"n": a.n, "group": a.group}
    for _ in range(50):  # warm: connections, prepared statements, the skill's resolved shape
        service.submit("bench.noop", {})
    t = time.perf_counter()
    for _ in range(a.n):
        service.submit("bench.noop", {})
    out["submit_ms"] = per_task(time.perf_counter() - t)
    kept: list[handoff.Ready] = []

    def keep(items: list[handoff.Ready]) -> handoff.Delivery:
        kept.extend(items)
        return handoff.Delivery(len(items))

    real, submit.after_commit = submit.after_commit, keep
    try:
        t = time.perf_counter()
        for _ in range(a.n):
            service.submit("bench.noop", {})
        out["submit_unpublished_ms"] = per_task(time.perf_counter() - t)
    finally:
        submit.after_commit = real
    t = time.perf_counter()
    for start in range(0, len(kept), a.group):
        dispatch.publish(kept[start:start + a.group])
    out["publish_grouped_ms"] = per_task(time.perf_counter() - t)
    saved = out["submit_ms"] - out["submit_unpublished_ms"] - out["publish_grouped_ms"]
    out["most_grouping_saves_ms"] = round(saved, 4)
    t = time.perf_counter()
    service.submit_many([{"skill": "bench.noop"} for _ in range(a.n)])
    out["submit_many_ms"] = per_task(time.perf_counter() - t)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
