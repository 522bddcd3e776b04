"""Rate limits at claim: one bucket row per key, updated under its row lock by every worker's claim.

Each bucket keeps the next moment a claim may start; a claim at or after it starts now and moves it on
by 1/rate. A claim that comes early is not refused and retried: it *reserves* that moment (the bucket moves
on past it, so the next early claim gets the moment after) and its task is sent again for then, so a
backlog is spread over the coming slots in one pass, and nothing polls. A bucket holds one token: like
Celery's ``rate_limit``, no burst, but counted across every worker instead of per worker process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from ..gates import per_second
from ..models import RateBucket

# A message that arrives this early for its reserved moment (clocks of worker and database differ a little)
# starts anyway rather than going round once more.
EARLY = timedelta(seconds=0.05)


def take(rates: Mapping[str, str], now: datetime) -> datetime | None:
    """Take a start under every rate of ``rates`` (key -> "10/m"): None if the task may start now, else the
    moment reserved for it. Locks the buckets in key order (no deadlock between two claims)."""
    slot = take_many([rates], now)[0]
    return None if slot <= now + EARLY else slot


def take_many(tasks: Sequence[Mapping[str, str]], now: datetime) -> list[datetime]:
    """The moment of each task (its rates, in order), one after the other: a job's tasks take consecutive
    moments under one lock of each bucket, one write each, instead of one claim each."""
    keys = sorted({k for rates in tasks for k in rates})
    RateBucket.objects.bulk_create([RateBucket(key=k, next_at=now) for k in keys], ignore_conflicts=True)
    nexts = dict(RateBucket.objects.filter(key__in=keys).order_by("key").select_for_update()
                 .values_list("key", "next_at"))
    out = []
    for rates in tasks:
        slot = max(max(nexts[k], now) for k in rates)
        for k, r in rates.items():
            nexts[k] = slot + timedelta(seconds=1.0 / per_second(r))
        out.append(slot)
    for k in keys:
        RateBucket.objects.filter(key=k).update(next_at=nexts[k])
    return out


def on_time(reserved: datetime, now: datetime, rates: Mapping[str, str]) -> str:
    """"early", "due" or "late" for a task that reserved ``reserved``. Late by more than two intervals of its
    fastest rate (a busy worker), its moment passed unused and it takes a new one: starting late on an old
    moment would let a backlog start in a burst, above the rate."""
    if reserved > now + EARLY:
        return "early"
    late = timedelta(seconds=2.0 / max(per_second(r) for r in rates.values()))
    return "due" if reserved >= now - late else "late"
