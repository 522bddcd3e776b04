"""The processes of running attempts on this host (``weft_tid``, ``weft_top``): which task a process belongs
to, and the CPU and memory of each running task, sampled with psutil.

An attempt's row names the worker process that claimed it (``Attempt.pid``) and its worker (``name@host``).
Whatever runs the attempt descends from that process: an inline skill runs in it, a command or isolated
skill in a supervisor it forks and the child the supervisor starts (execution/supervisor.py); the
supervisor is a subreaper, so even a child's orphans stay under it. So a process belongs to the running
attempt whose pid is the process itself or one of its ancestors.
"""

from __future__ import annotations

import socket
import time
from contextlib import suppress
from typing import Any

import psutil
from django.utils import timezone

from ..exceptions import InvalidInput, UnknownId
from ..models import Attempt

PID_MAX = 4_194_304  # Linux's largest pid_max (2**22)
FIELDS = ("pk", "task_id", "job_id", "number", "pid", "worker", "started_at", "task__key", "task__skill_name")


def host() -> str:
    return socket.gethostname()


def _here(worker: str) -> bool:
    """Whether an attempt's worker (``name@host``, or a bare host) runs on this host."""
    return worker.rpartition("@")[2] == host()


def check_pid(pid: Any) -> int:
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 < pid <= PID_MAX:
        raise InvalidInput("pid", f"must be a process id (a whole number from 1 to {PID_MAX}), got {pid!r}")
    return pid


def _running_here() -> list[dict[str, Any]]:
    rows = Attempt.objects.filter(outcome="running", pid__isnull=False).order_by("started_at", "pk").values(*FIELDS)
    return [r for r in rows if _here(r["worker"])]


def _row(a: dict[str, Any]) -> dict[str, Any]:
    return {"task": a["task_id"], "job": a["job_id"], "key": a["task__key"], "skill": a["task__skill_name"],
            "attempt": a["number"], "attempt_id": a["pk"], "worker": a["worker"], "pid": a["pid"],
            "running_for": round((timezone.now() - a["started_at"]).total_seconds(), 3)}


def task_of_pid(pid: Any) -> dict[str, Any] | None:
    """The running attempt the process ``pid`` of this host belongs to, as ``weft_ps`` shows a task, with
    ``via``: the chain of pids from the attempt's process down to ``pid``. None if it belongs to none;
    UnknownId if there is no such process here."""
    check_pid(pid)
    try:
        chain = [psutil.Process(pid)]
        chain += chain[0].parents()
    except psutil.NoSuchProcess:
        raise UnknownId(f"no process {pid} on this host ({host()})") from None
    by_pid = {a["pid"]: a for a in _running_here()}
    for depth, proc in enumerate(chain):
        if proc.pid in by_pid:
            return {**_row(by_pid[proc.pid]), "process": pid,
                    "via": [p.pid for p in reversed(chain[:depth + 1])]}
    return None


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


SORTS = {"cpu": "cpu_percent", "mem": "rss_mb", "time": "running_for", "task": "task"}


def top(*, interval: float = 1.0, sort: str = "cpu") -> dict[str, Any]:
    """The running attempts of this host with the CPU (% of one core, over ``interval`` seconds) and
    resident memory of their processes (the attempt's process and every descendant), sorted by ``sort``
    (cpu, mem, time, task) largest first (task: by id)."""
    if sort not in SORTS:
        raise InvalidInput("sort", f"must be one of {', '.join(SORTS)}, got {sort!r}")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 < interval <= 60:
        raise InvalidInput("interval", f"must be a number of seconds above 0 and at most 60, got {interval!r}")
    attempts = _running_here()
    trees = {a["pk"]: _tree(a["pid"]) for a in attempts}
    for proc in (p for tree in trees.values() for p in tree):
        with suppress(psutil.Error):  # the first call starts the measure; the second, after the interval, reads it
            proc.cpu_percent(None)
    time.sleep(interval)
    rows = []
    for a in attempts:
        cpu = rss = 0.0
        alive = 0
        for proc in trees[a["pk"]]:
            try:
                with proc.oneshot():
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss
                alive += 1
            except psutil.Error:  # it ended meanwhile
                continue
        rows.append({**_row(a), "processes": alive, "cpu_percent": round(cpu, 1),
                     "rss_mb": round(rss / 2**20, 1)})
    key = SORTS[sort]
    rows.sort(key=lambda r: r[key], reverse=sort != "task")
    return {"host": host(), "sort": sort, "interval": interval, "tasks": rows}
