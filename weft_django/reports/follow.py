"""Following a job until it ends (``weft_result --stream``, ``weft_status --watch``): the new output of its
attempts as they run, and its progress.

A running attempt's ``stdout``/``stderr`` rows hold the tail of its output, rewritten at most every
WEFT_OUTPUT_FLUSH_SECONDS while it runs and once more when it ends. Each poll reads the attempts that were
running at the previous one and those opened since (by the job's attempt index, whatever the job's size),
and yields only the text each tail gained.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.db.models import Q

from ..models import Attempt
from ..states import FINAL_JOB_STATES
from .jobs import get_job

FIRST = 50  # a job already under way: the output of its newest attempts, not of all of them
ANCHOR = 200  # characters of the new tail looked for in the previous one when the window slid


def new_text(before: str, now: str) -> str:
    """What ``now`` (a tail of the output) adds to ``before`` (an earlier tail of the same output): ``now``
    after the longest end of ``before`` it starts with (the tail's window slides as output grows)."""
    if now.startswith(before):
        return now[len(before):]
    head = now[:ANCHOR]  # an overlap of ANCHOR characters or more starts where ``head`` is found in ``before``
    at = before.find(head)
    while at >= 0 and len(head) == ANCHOR:
        if now.startswith(before[at:]):
            return now[len(before) - at:]
        at = before.find(head, at + 1)
    for k in range(min(ANCHOR, len(before), len(now)), 0, -1):  # a shorter overlap
        if now.startswith(before[-k:]):
            return now[k:]
    return now  # the window moved past all we saw: all of it is new


def follow(job_id: Any, *, poll: float = 0.5, timeout: float | None = None) -> Iterator[dict[str, Any]]:
    """Events until the job is final: ``{"event": "output", "task", "key", "attempt", "stream", "text"}``
    for new output, ``{"event": "progress", "status", "done", "total"}`` when it changes, and last
    ``{"event": "end", "status", ...}`` (or ``{"event": "timeout", ...}`` after ``timeout`` seconds)."""
    job = get_job(job_id)
    seen: dict[int, tuple[str, str]] = {}
    watched: set[int] = set()
    newest = 0
    last_progress: tuple[Any, ...] = ()
    deadline = None if timeout is None else time.monotonic() + timeout
    first = True
    while True:
        job.refresh_from_db(fields=["status", "tasks_total", "tasks_open", "stop_reason"])
        final = job.status in FINAL_JOB_STATES
        rows = Attempt.objects.filter(job_id=job.pk)
        if first:
            rows = rows.order_by("-pk")[:FIRST]
        else:
            rows = rows.filter(Q(pk__gt=newest) | Q(pk__in=watched)).order_by("pk")
        attempts = sorted(rows.values("pk", "task_id", "task__key", "number", "outcome", "stdout", "stderr"),
                          key=lambda a: a["pk"])
        first = False
        for a in attempts:
            newest = max(newest, a["pk"])
            before = seen.get(a["pk"], ("", ""))
            for stream, old, now in (("stdout", before[0], a["stdout"]), ("stderr", before[1], a["stderr"])):
                text = new_text(old, now)
                if text:
                    yield {"event": "output", "task": a["task_id"], "key": a["task__key"], "attempt": a["number"],
                           "stream": stream, "text": text}
            seen[a["pk"]] = (a["stdout"], a["stderr"])
            if a["outcome"] == "running":
                watched.add(a["pk"])
            else:
                watched.discard(a["pk"])
                seen.pop(a["pk"], None)  # closed: its output is final and will not be read again
        progress = (job.status, job.tasks_total - max(job.tasks_open, 0), job.tasks_total)
        if progress != last_progress:
            last_progress = progress
            yield {"event": "progress", "status": progress[0], "done": progress[1], "total": progress[2]}
        if final:
            yield {"event": "end", "id": job.pk, "status": job.status, "stop_reason": job.stop_reason}
            return
        if deadline is not None and time.monotonic() >= deadline:
            yield {"event": "timeout", "id": job.pk, "status": job.status}
            return
        time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))
