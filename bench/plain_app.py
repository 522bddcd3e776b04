"""A plain Celery app (no weft) with the recommended reliability settings, to measure Celery's own recovery.

acks_late + reject_on_worker_lost + prefetch 1, Redis with its default visibility timeout (1 h). Each
run of ``plain.sleep`` appends (time, pid) to a Redis list, so bench/celery_baseline.py sees every start.
"""

from __future__ import annotations

import json
import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("WEFT_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
PRIORITY_SEP = "\x06\x16"  # kombu's Redis priority bands: "plain", "plain\x06\x163", ...

app = Celery("plain", broker=BROKER, set_as_current=False)
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_ignore_result=True, worker_hijack_root_logger=False, task_default_queue="plain")


@app.task(name="plain.sleep")
def sleep(seconds: float, key: str) -> None:
    client = redis.Redis.from_url(BROKER)
    try:
        client.rpush(key, json.dumps({"t": time.time(), "pid": os.getpid()}))
    finally:
        client.close()
    time.sleep(seconds)
