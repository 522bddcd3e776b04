"""CPU time (utime + stime from /proc/<pid>/stat) and RSS of every process a benchmark involves."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process, in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted from "state"


def reaped_children_ticks(pid: int) -> int:
    """cutime + cstime: CPU of the children this process has reaped (for the postmaster: ended backends)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[13]) + int(fields[14])


def postmaster() -> int | None:
    """The PostgreSQL server's parent process: the one postgres process whose parent is not postgres."""
    pids = set(pids_named("postgres"))
    for pid in pids:
        try:
            if psutil.Process(pid).ppid() not in pids:
                return pid
        except psutil.Error:
            continue
    return None


def tree(root_pids: Iterable[int]) -> list[int]:
    """The given processes and all their descendants (Celery's pool children, for instance)."""
    pids: list[int] = []
    for pid in root_pids:
        try:
            p = psutil.Process(pid)
            pids.append(pid)
            pids.extend(c.pid for c in p.children(recursive=True))
        except psutil.Error:
            continue
    return pids


def pids_named(name: str) -> list[int]:
    return [p.info["pid"] for p in psutil.process_iter(["pid", "name"]) if p.info["name"] == name]


def postgres_groups(activity: list[tuple[int, str | None, str | None]], dbname: str | None) -> dict[int, str]:
    """Classify the server's processes: backends of our database, and shared server processes.

    Client backends (and autovacuum workers) of other databases belong to whoever else uses the shared
    server and are left out; the postmaster, checkpointer, WAL writer... are shared and kept apart.
    """
    by_pid = {pid: (db, kind) for pid, db, kind in activity}
    groups: dict[int, str] = {}
    for pid in pids_named("postgres"):
        db, kind = by_pid.get(pid, (None, None))
        if db is None and kind != "client backend":
            groups[pid] = "pg_server"
        elif dbname is not None and db == dbname:
            groups[pid] = "pg_backends"
    return groups


@dataclass
class Snapshot:
    at: float
    ticks: dict[int, int] = field(default_factory=dict)
    groups: dict[int, str] = field(default_factory=dict)


def snapshot(groups: dict[int, str]) -> Snapshot:
    s = Snapshot(at=time.time(), groups=dict(groups))
    for pid in groups:
        t = cpu_ticks(pid)
        if t is not None:
            s.ticks[pid] = t
    return s


def cpu_delta_ms(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """CPU milliseconds per group between two snapshots. A process that appeared in between counts
    from its start (it started after ``before``); one that vanished in between is lost (we warm up
    first so that no connection or pool process starts or ends inside the measured window)."""
    out: dict[str, float] = {}
    for pid, t_after in after.ticks.items():
        group = after.groups[pid]
        t_before = before.ticks.get(pid)
        if t_before is None:
            try:
                if psutil.Process(pid).create_time() < before.at - 0.05:
                    continue  # existed before but was not classified then: cannot attribute it
            except psutil.Error:
                continue
            t_before = 0
        out[group] = out.get(group, 0.0) + (t_after - t_before) * 1000.0 / TICK
    return out


def rss_mb(pids: Iterable[int]) -> list[float]:
    out = []
    for pid in pids:
        try:
            out.append(round(psutil.Process(pid).memory_info().rss / 2**20, 1))
        except psutil.Error:
            continue
    return out


def hardware() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu_model": model,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
