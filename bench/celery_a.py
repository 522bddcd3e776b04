"""(a) Plain Celery: a no-op task, no result backend, no Django."""

from __future__ import annotations

import os

from celery import Celery

from bench import sidechannel

app = Celery("bench_a", broker=sidechannel.url())
app.conf.update(
    task_ignore_result=True,
    task_default_queue="bench",
    worker_prefetch_multiplier=int(os.environ.get("BENCH_PREFETCH", "4")),
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(stamp: bool = False, target: int = 0) -> None:
    sidechannel.body(stamp, target)
