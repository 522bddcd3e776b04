"""Admission: whether a task with limits or locks may start now, decided at claim in the database.

A claim of a ``governed`` task (claim.py's ORM path; the fast claim skips them) first takes a transaction
advisory lock per concurrency key and per lock namespace, in one order, so two claims that could compete
for one slot or two conflicting locks decide one after the other, and each counts what the other
committed. Then all or nothing: a free slot of every concurrency key and no conflicting lock held
(slots.py), then a start under every rate (rate.py). A task that may not start stays queued with no
attempt: ``waiting_for`` says why, a decision records it (once, when it starts waiting), and its message
is spent; it is sent again when a holder ends (``handoff``), by the sweep as a backstop, or, for a rate,
at the moment reserved for it. On SQLite (no advisory locks) claims are serialised by its one writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone

from .. import skill_limits, transitions
from ..globs import namespace
from ..handoff import Ready, after_commit
from ..models import Task
from ..states import DecisionAction, TaskStatus
from . import ledger, rate, slots

HANDOFF_SCAN = 50  # waiting tasks the hand-off looks through for ones that wait on what was freed
HANDOFF_LOCK_WAITERS = 8  # a freed lock may let several disjoint waiters start: offer it to this many


def serialise(concurrency: Mapping[str, Any], locks: Sequence[str]) -> None:
    """Take the transaction's advisory locks of these keys and lock namespaces, in one global order."""
    if connection.vendor != "postgresql":
        return
    names = [f"c:{k}" for k in concurrency] + [f"l:{ns}" for ns in {namespace(lk) for lk in locks}]
    ids = sorted({int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8).digest(), "big", signed=True)
                  for n in names})
    with connection.cursor() as cursor:
        for i in ids:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [i])


def db_now() -> datetime:
    """The database's clock (every worker's claim compares against the same one)."""
    if connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        now: datetime = cursor.fetchone()[0]
    return now


def admit(task_id: int, token: int, row: Mapping[str, Any]) -> bool:
    """Inside the claim's transaction: True if the task may start now; False if it must wait (recorded, and
    for a rate sent again for its moment) or the message is stale."""
    gates, locks = row["gates"] or {}, row["locks"] or []
    concurrency = skill_limits.live(row["skill_name"], row["queue"], gates.get("concurrency", {}))
    serialise(concurrency, locks)
    state = Task.objects.filter(pk=task_id, status=TaskStatus.QUEUED, attempts=token).values(
        "waiting_for", "rate_slot").first()
    if state is None:
        return False  # a duplicate or stale message: the claim's compare-and-set would refuse it too
    refused = slots.refusal(task_id, concurrency, locks) if concurrency or locks else None
    if refused is not None:
        if transitions.hold(task_id, token, refused.reason) and not state["waiting_for"]:
            ledger.write(row["job_id"], task_id, None, DecisionAction.DEFER, refused.reason, refused.policy,
                         refused.observation)
        return False
    rates = gates.get("rate")
    return not rates or _rate(task_id, token, row, rates, state["rate_slot"])


def reserve(rows: Sequence[dict[str, Any]]) -> None:
    """At submission: each new queued task with a rate limit takes its moment now, in order (one lock of each
    bucket for the whole job; no claim is refused for it later). A task due later is written held until then
    (``not_before``, ``waiting_for``); the caller sends it with that countdown (``countdown``)."""
    now = db_now()
    for r, slot in zip(rows, rate.take_many([r["gates"]["rate"] for r in rows], now), strict=True):
        r["rate_slot"] = slot
        if slot > now + rate.EARLY:
            r.update(not_before=slot, dispatched_at=slot, waiting_for=_until(slot))


def countdown(row: Mapping[str, Any], now: datetime) -> float:
    slot = row.get("rate_slot")
    return max(0.0, (slot - now).total_seconds()) if slot is not None and row.get("waiting_for") else 0.0


def _until(slot: datetime) -> str:
    return f"rate limited until {slot.astimezone(timezone.get_current_timezone()).strftime('%H:%M:%S.%f')[:-4]}"


def _rate(task_id: int, token: int, row: Mapping[str, Any], rates: Mapping[str, str],
          promised: datetime | None) -> bool:
    """Start under every rate of the task now, or hold it back to its moment and send it again for then."""
    now = db_now()
    start, at, new = rate.admit(rates, now, promised)
    if start:
        return True
    assert at is not None
    reason = _until(at)
    transitions.hold(task_id, token, reason, until=at)
    if new:  # a decision when it is first held back; not each time it comes round
        ledger.write(row["job_id"], task_id, None, DecisionAction.DEFER,
                     f"{reason} ({', '.join(f'{k} at {v}' for k, v in sorted(rates.items()))}); sent again then",
                     "limit.rate", {"until": at.isoformat(), "rates": dict(rates), "wait": (at - now).total_seconds()})
    _send_at(task_id, token, row, at, now)
    return False


def _send_at(task_id: int, token: int, row: Mapping[str, Any], at: datetime, now: datetime) -> None:
    after_commit([Ready(task_id, token, row["queue"], row["priority"], max(0.0, (at - now).total_seconds()))])


def handoff(task_id: int, gates: Mapping[str, Any] | None, locks: Sequence[str] | None) -> list[Ready]:
    """A task that held limits or locks left ``running`` (in this transaction): the waiting tasks to send, one
    per concurrency key it freed and a few per lock. Takes the same advisory locks as an admission, so a task
    that started waiting at this moment is either seen here or counts this task gone (never missed)."""
    concurrency = (gates or {}).get("concurrency", {})
    locks = locks or []
    if not concurrency and not locks:
        return []
    serialise(concurrency, locks)
    waiting = list(Task.objects.filter(status=TaskStatus.QUEUED, governed=True).exclude(waiting_for="")
                   .filter(Q(not_before__isnull=True) | Q(not_before__lte=Now()))
                   .order_by("priority", "dispatched_at", "pk")
                   .values_list("pk", "attempts", "queue", "priority", "gates", "locks")[:HANDOFF_SCAN])
    picked: list[tuple[int, int, str, int]] = []
    for key in concurrency:
        first = next((w for w in waiting if key in (w[4] or {}).get("concurrency", {})), None)
        if first is not None and first[0] not in {p[0] for p in picked}:
            picked.append(first[:4])
    if locks:
        for w in waiting:
            if len(picked) >= HANDOFF_LOCK_WAITERS:
                break
            if w[0] not in {p[0] for p in picked} and slots.shares({}, locks, w[4] or {}, w[5] or []):
                picked.append(w[:4])
    transitions.offered([p[0] for p in picked])  # to the back of the line: the next hand-off offers another
    return [Ready(pk, token, queue, priority) for pk, token, queue, priority in picked]
