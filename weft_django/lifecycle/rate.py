"""Rate limits at claim: one bucket row per key, updated under its row lock by every worker's claim.

A bucket keeps two moments: ``free_at``, the earliest the next claim under it may start, and ``next_at``,
the next moment not yet promised to a task. A task starts only at or after ``free_at`` of each of its keys,
which each start moves on by one interval (1/rate), from itself or from up to ``credit`` before now (three
intervals, at most half a second: starts that come a little late, unevenly, on a busy worker do not push every
later one back, which would slow a backlog below the rate). That alone bounds the starts in any window of W
seconds to W x rate + 1 + credit x rate (+4 at 20/s, +1 at 10/m), whatever the workers do. To spread a
backlog without
polling, each task is also promised a moment (``take_many``, at submission for a job's queued tasks, at its
first claim otherwise): the bucket's ``next_at``, moved on by one interval per task, and the task is sent
for then. A task that comes on time (or late: a busy worker) starts if its keys' ``free_at`` has
come, else it is sent again for then; its promise stands, so it never goes to the back. Like Celery's
``rate_limit`` (a token bucket of one token) there is no burst beyond that small credit, but the
rate is counted across every worker instead of per worker process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ..gates import per_second
from ..models import RateBucket

# A message that arrives this early for its moment (the clocks of worker and database differ a little)
# is taken as on time rather than sent round once more.
EARLY = timedelta(seconds=0.01)


def _interval(rate: str) -> timedelta:
    return timedelta(seconds=1.0 / per_second(rate))


CREDIT_INTERVALS, CREDIT_MAX = 3, timedelta(seconds=0.5)


def credit(rate: str) -> timedelta:
    """How far back from now a start may count its interval from (see the module's docstring)."""
    return min(CREDIT_INTERVALS * _interval(rate), CREDIT_MAX)


def _locked(keys: list[str], now: datetime) -> dict[str, RateBucket]:
    """The buckets of ``keys``, created if new, locked in key order (no deadlock between two claims)."""
    RateBucket.objects.bulk_create([RateBucket(key=k, next_at=now) for k in keys], ignore_conflicts=True)
    return {b.key: b for b in RateBucket.objects.filter(key__in=keys).order_by("key").select_for_update()}


def take_many(tasks: Sequence[Mapping[str, str]], now: datetime) -> list[datetime]:
    """Promise each task (its rates, in order) a moment, one interval after the other: a job's tasks take
    consecutive moments under one lock of each bucket and one write each, instead of one claim each."""
    keys = sorted({k for rates in tasks for k in rates})
    buckets = _locked(keys, now)
    nexts = {k: b.next_at for k, b in buckets.items()}
    out = []
    for rates in tasks:
        slot = max(max(nexts[k], now) for k in rates)
        for k, r in rates.items():
            nexts[k] = slot + _interval(r)
        out.append(slot)
    for k in keys:
        RateBucket.objects.filter(key=k).update(next_at=nexts[k])
    return out


def admit(rates: Mapping[str, str], now: datetime, promised: datetime | None) -> tuple[bool, datetime | None, bool]:
    """(start now?, else the moment to come back, whether that moment was promised just now) for a task under
    ``rates`` with moment ``promised`` (None: none yet). A start is recorded in the buckets."""
    if promised is not None and promised > now + EARLY:
        return False, promised, False  # an early copy of its message: it keeps its moment
    keys = sorted(rates)
    buckets = _locked(keys, now)
    new = promised is None
    if new:
        slot = max(max(b.next_at, now) for b in buckets.values())
        for k in keys:
            RateBucket.objects.filter(key=k).update(next_at=slot + _interval(rates[k]))
        if slot > now + EARLY:
            return False, slot, True
    free = max((b.free_at for b in buckets.values() if b.free_at is not None), default=now)
    if free > now + EARLY:  # a start under one of its rates was less than an interval ago
        return False, free, new
    for k, b in buckets.items():
        step = _interval(rates[k])
        RateBucket.objects.filter(key=k).update(free_at=max(b.free_at or now, now - credit(rates[k])) + step)
    return True, None, new
