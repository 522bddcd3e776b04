"""Issue 10: nothing of an attempt outlives its lease.

A command skill, or a Python skill with ``isolation="process"``, starts a grandchild in a session of
its own (out of reach of its process group and of PR_SET_PDEATHSIG) and sleeps. Its worker dies (the
pool process, or the main process alone) or freezes past its lease; attempt 2 then starts elsewhere.
Every process of attempt 1 must be gone before attempt 2 starts: the supervisor between the worker and
the child (weft_django/execution/supervisor.py) kills them. The skills write their pids to a file;
this test watches those processes (psutil, every 20 ms) and compares when they went with the start of
attempt 2 in the database (the same host: one clock).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import LEASE, attempts_of, fault_worker, kill_pid, measure, running_attempt, start_sweeper
from weft_django import service
from weft_django.execution import supervisor
from weft_django.models import Attempt, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SKILLS = ["t.family_cmd", "t.family_py"]
POLL = 0.02


class Family:
    """The processes of attempt 1 as the skill wrote them down, watched until each is gone."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "pids"
        lines = wait_for(lambda: self._pids(), 60, 0.05, "the skill to write its pids")
        self.procs = [psutil.Process(pid) for pid in lines]  # both alive now: the skill sleeps 30 s
        self.started = {p.pid: p.create_time() for p in self.procs}
        self.gone_at: dict[int, float] = {}  # epoch seconds: the first poll that found it gone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _pids(self) -> list[int] | None:
        try:
            lines = [int(x) for x in self.path.read_text().split()]
        except (FileNotFoundError, ValueError):
            return None
        return lines if len(lines) >= 2 else None

    def _watch(self) -> None:
        while not self._stop.is_set() and len(self.gone_at) < len(self.procs):
            for p in self.procs:
                if p.pid not in self.gone_at and not _alive(p):
                    self.gone_at[p.pid] = time.time()
            time.sleep(POLL)

    def wait_gone(self, timeout: float) -> dict[int, float]:
        self._thread.join(timeout)
        return dict(self.gone_at)

    def kill_leftovers(self) -> None:
        """So that a failing run leaves no sleeper behind."""
        self._stop.set()
        for p in self.procs:
            if _alive(p):
                p.kill()


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _check_gone_before_attempt_2(family: Family, task_id: int, label: str) -> dict[int, float]:
    """Attempt 2 started, and every process of attempt 1 was gone (polled) before it did."""
    second = wait_for(lambda: Attempt.objects.filter(task_id=task_id, number=2).first(), 60, 0.05,
                      f"attempt 2 of task {task_id}")
    wait_for(lambda: Task.objects.filter(pk=task_id, status="succeeded").exists(), 60, 0.1, "the task to succeed")
    starts = second.started_at.timestamp()
    gone = family.wait_gone(timeout=max(1.0, starts - time.time() + 1.0))
    alive_then = [pid for pid in family.started if pid not in gone or gone[pid] > starts]
    assert not alive_then, (f"{label}: processes {alive_then} of attempt 1 were still alive when attempt 2 started "
                            f"(gone at {gone}, attempt 2 started at {starts})")
    assert all(family.started[pid] < starts for pid in gone)
    measure(f"issue 10 {label}: attempt 2 started after attempt 1's last process (s)",
            round(starts - max(gone.values()), 3))
    assert [a.outcome for a in attempts_of(task_id)] == ["lost", "succeeded"]
    return gone


@pytest.mark.parametrize("skill", SKILLS)
def test_supervisor__sigkill_of_the_pool_process_kills_the_whole_attempt(
        procs: Processes, tmp_path: Path, skill: str) -> None:
    procs.add(fault_worker())
    procs.add(start_sweeper())
    job = service.submit(skill, {"dir": str(tmp_path)})
    task = Task.objects.get(job=job)
    first = running_attempt(task.pk)
    assert first.pid is not None
    family = Family(tmp_path)
    try:
        killed_at = kill_pid(first.pid)
        gone = _check_gone_before_attempt_2(family, task.pk, f"{skill} pool process SIGKILL")
        measure(f"issue 10 {skill} pool process SIGKILL: last process gone after the kill (s)",
                round(max(gone.values()) - killed_at, 3))
    finally:
        family.kill_leftovers()


@pytest.mark.parametrize("skill", SKILLS)
def test_supervisor__sigkill_of_the_main_process_kills_the_whole_attempt(
        procs: Processes, tmp_path: Path, skill: str) -> None:
    old = procs.add(fault_worker())
    procs.add(start_sweeper())
    job = service.submit(skill, {"dir": str(tmp_path)})
    task = Task.objects.get(job=job)
    running_attempt(task.pk)
    family = Family(tmp_path)
    try:
        kill_pid(old.pid)  # the main process alone: Celery's pool processes die with it (PR_SET_PDEATHSIG)
        procs.add(fault_worker())  # attempt 2 runs here, once the sweep finds the lease expired
        _check_gone_before_attempt_2(family, task.pk, f"{skill} main process SIGKILL")
    finally:
        family.kill_leftovers()


def test_supervisor__a_frozen_worker_loses_its_processes_before_its_lease(procs: Processes, tmp_path: Path) -> None:
    """The worker lives but renews nothing (SIGSTOP): the supervisor kills the attempt before the lease runs out."""
    procs.add(fault_worker(concurrency="1"))
    procs.add(start_sweeper())
    job = service.submit("t.family_cmd", {"dir": str(tmp_path)})
    task = Task.objects.get(job=job)
    first = running_attempt(task.pk)
    assert first.pid is not None
    family = Family(tmp_path)
    try:
        kill_pid(first.pid, signal.SIGSTOP)
        time.sleep(0.5)  # a renewal already on its way lands; none comes after
        expires = Task.objects.values_list("lease_expires_at", flat=True).get(pk=task.pk)
        assert expires is not None
        try:
            procs.add(fault_worker(concurrency="1"))
            gone = _check_gone_before_attempt_2(family, task.pk, "frozen worker")
        finally:
            kill_pid(first.pid, signal.SIGCONT)
        before_expiry = round(expires.timestamp() - max(gone.values()), 3)
        measure(f"issue 10 frozen worker: last process gone before the lease expired (s; lease {LEASE} s)",
                before_expiry)
        assert before_expiry > 0
    finally:
        family.kill_leftovers()
    # The worker wakes up, finds its child killed for want of a renewal, and its report is refused (fenced).
    zombie = wait_for(lambda: Attempt.objects.filter(pk=first.pk, outcome="discarded").first(), 30, 0.1,
                      "the frozen worker's report")
    assert zombie.error_type == "LeaseLost" and "no renewal" in zombie.error_message


# ---------------------------------------------------------------- the supervisor alone, in this process


def _start_family(directory: Path, lease_left: float, token: int) -> tuple[supervisor.Supervisor, psutil.Process]:
    """A supervised ``sh`` that starts a sleeper in a new session; (its supervisor, the sleeper)."""
    started: list[subprocess.Popen[bytes]] = []

    def spawn() -> int:
        started.append(subprocess.Popen(["sh", "-c", "setsid sleep 30 & echo $! > sleeper; sleep 30"], cwd=directory,
                                        start_new_session=True))
        return started[-1].pid

    sup = supervisor.start(spawn, lease_until=time.monotonic() + supervisor.kill_margin() + lease_left,
                           worker="unit", task_id=1, token=token, skill="unit.family")
    pid = wait_for(lambda: (directory / "sleeper").read_text().strip() if (directory / "sleeper").exists() else "",
                   10, 0.02, "the sleeper")
    return sup, psutil.Process(int(pid))


def test_supervisor__the_end_of_the_worker_pipe_kills_everything_and_frees_the_marker(tmp_path: Path) -> None:
    sup, sleeper = _start_family(tmp_path, 60, token=1)
    assert supervisor.attempt_alive("unit", 1, 1) and not supervisor.attempt_alive("unit", 1, 2)
    sup.close()  # what the worker's death does: the only write end of the control pipe goes away
    assert sup.wait() == (-signal.SIGKILL, "worker")
    assert not _alive(sleeper)
    assert not supervisor.attempt_alive("unit", 1, 1)


def test_supervisor__kills_before_the_lease_runs_out_unless_renewed(tmp_path: Path) -> None:
    sup, sleeper = _start_family(tmp_path, 1.5, token=3)
    began = time.monotonic()
    sup.renew(time.monotonic() + supervisor.kill_margin() + 3.0)  # the monitor renewed
    assert sup.wait() == (-signal.SIGKILL, "lease")
    took = time.monotonic() - began
    sup.close()
    assert 2.2 < took < 6.0, took  # killed at the renewed deadline minus the margin, not the first one
    assert not _alive(sleeper)
