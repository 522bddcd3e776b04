"""Concurrency slots and locks at claim: who holds what, read from the running tasks themselves.

A task holds its concurrency slots and its locks exactly while it is ``running``: every way an attempt ends
(success, failure, retry, block, cancel, a lost lease recovered, a fenced-out worker's task taken back)
moves it out of ``running`` through transitions/, so nothing is ever released by hand and nothing can
leak. The running tasks with limits or locks are few (at most one per worker process), read through a
partial index (weft_task_governed_idx). The caller holds the advisory locks of the keys (admission.py),
so two claims never count the same free slot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..globs import conflicts
from ..models import Task
from ..states import TaskStatus

SHOWN = 5  # holders named in a waiting task's message


@dataclass(frozen=True)
class Holder:
    task_id: int
    job_id: int
    gates: Mapping[str, Any]
    locks: Sequence[str]


@dataclass(frozen=True)
class Refusal:
    """Why a task may not start now: the message it shows, the policy, and what was seen."""

    reason: str
    policy: str
    observation: dict[str, Any] = field(default_factory=dict)


def holders(exclude: int) -> list[Holder]:
    """Every running task that holds a limit or a lock, but ``exclude``."""
    return [Holder(pk, job, g or {}, lk or []) for pk, job, g, lk in Task.objects.filter(
        status=TaskStatus.RUNNING, governed=True).exclude(pk=exclude).values_list("pk", "job_id", "gates", "locks")]


def refusal(task_id: int, concurrency: Mapping[str, int], locks: Sequence[str]) -> Refusal | None:
    """None if a slot of every concurrency key is free and no lock is held against it; else why not."""
    running = holders(task_id)
    for key, limit in sorted(concurrency.items()):
        using = [h.task_id for h in running if key in h.gates.get("concurrency", {})]
        if len(using) >= limit:
            named = ", ".join(str(t) for t in sorted(using)[:SHOWN]) + (" ..." if len(using) > SHOWN else "")
            return Refusal(f"waiting for a concurrency slot of {key} ({len(using)} of {limit} in use by tasks "
                           f"{named})", "limit.concurrency", {"key": key, "limit": limit, "in_use": len(using),
                                                               "tasks": sorted(using)[:SHOWN]})
    for mine in locks:
        for h in running:
            theirs = next((t for t in h.locks if conflicts(mine, t)), None)
            if theirs is not None:
                held = f"held by task {h.task_id} (job {h.job_id})" + (f" as {theirs!r}" if theirs != mine else "")
                return Refusal(f"waiting for lock {mine!r}, {held}", "lock.held",
                               {"lock": mine, "held_as": theirs, "task": h.task_id, "job": h.job_id})
    return None


def shares(concurrency: Mapping[str, Any], locks: Sequence[str], other: Mapping[str, Any],
           other_locks: Sequence[str]) -> bool:
    """Whether a task with ``other`` gates and locks waits on something of these (the hand-off's test)."""
    theirs = other.get("concurrency", {})
    return any(k in theirs for k in concurrency) or any(conflicts(a, b) for a in locks for b in other_locks)
