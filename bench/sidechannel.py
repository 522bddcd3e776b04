"""The no-op task body all four systems run, and the Redis keys the producer reads.

The body costs one Redis INCR (the same for every system, so the comparison stays fair): that is how
the producer learns that plain Celery, which stores no result, finished its tasks. ``stamp`` also
records the wall-clock start (latency runs); ``target`` makes the task that brings the counter to
``target`` record the end time, so the producer need not poll while a throughput run goes on.
"""

from __future__ import annotations

import os
import time

import redis

DONE = "bench:done"
START = "bench:start"
END = "bench:end"

_client: redis.Redis | None = None


def url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")


def client() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(url())
    return _client


def body(stamp: bool = False, target: int = 0) -> None:
    r = client()
    if stamp:
        r.set(START, repr(time.time()))
    n = r.incr(DONE)
    if target and n == target:
        r.set(END, repr(time.time()))


def reset() -> None:
    client().mset({DONE: 0, START: 0, END: 0})


def done() -> int:
    return int(client().get(DONE) or 0)


def end_time() -> float:
    return float(client().get(END) or 0)


def start_time() -> float:
    return float(client().get(START) or 0)
