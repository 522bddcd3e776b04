"""weft_tid and weft_top against real processes: a fake running attempt points at a process tree this test
starts (a shell standing for the worker process, with children standing for a supervisor and its child)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.conftest import wait_for
from weft_django import service
from weft_django.exceptions import InvalidInput, UnknownId
from weft_django.models import Attempt, Job, Task
from weft_django.reports import follow, processes, task_of_pid, top

pytestmark = pytest.mark.django_db

SLEEPER = ["sh", "-c", "sleep 60 & wait"]  # the worker process, and a child below it
SPINNER = ["sh", "-c", f"{sys.executable} -c 'while True: pass' & wait"]  # a child that burns a core


@pytest.fixture
def trees() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        for child in psutil.Process(p.pid).children(recursive=True):
            child.kill()
        p.kill()
        p.wait()


def tree(started: list[subprocess.Popen[bytes]], argv: list[str]) -> tuple[int, int]:
    """Start ``argv``; its pid and its child's, once the child runs."""
    p = subprocess.Popen(argv, start_new_session=True)
    started.append(p)
    child = wait_for(lambda: psutil.Process(p.pid).children(), 10, 0.02, "the child")[0].pid
    return p.pid, child


def running_attempt(pid: int, worker: str | None = None) -> Task:
    job = service.submit("t.noop")
    task = Task.objects.get(job=job)
    Task.objects.filter(pk=task.pk).update(status="running", attempts=1, started_at=timezone.now(),
                                           lease_expires_at=timezone.now() + timedelta(minutes=5))
    Attempt.objects.create(task=task, job=job, number=1, pid=pid, started_at=timezone.now(),
                           worker=worker if worker is not None else f"w1@{socket.gethostname()}")
    return task


def tid(pid: int) -> Any:
    out = io.StringIO()
    call_command("weft_tid", "--pid", str(pid), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_weft_tid__names_the_task_of_the_attempts_process_and_of_its_descendants(
    trees: list[subprocess.Popen[bytes]],
) -> None:
    worker, child = tree(trees, SLEEPER)
    other, _ = tree(trees, SLEEPER)
    task = running_attempt(worker)
    running_attempt(other, worker="w2@another-host")  # the same pid elsewhere says nothing about this host
    assert tid(child) | {"running_for": None} == {
        "task": task.pk, "job": task.job_id, "key": "t.noop", "skill": "t.noop", "attempt": 1,
        "attempt_id": Attempt.objects.get(task=task).pk, "worker": f"w1@{socket.gethostname()}", "pid": worker,
        "running_for": None, "process": child, "via": [worker, child]}
    assert tid(worker)["via"] == [worker]
    # A process under no running attempt of this host: exit code 2, and the JSON says so.
    out = io.StringIO()
    with pytest.raises(CommandError) as err:
        call_command("weft_tid", "--pid", str(other), "--json", stdout=out)
    assert err.value.returncode == 2 and json.loads(out.getvalue()) == {"process": other, "task": None}
    # Once the attempt ends, its processes belong to no task.
    Attempt.objects.filter(task=task).update(outcome="succeeded")
    assert task_of_pid(child) is None


def test_weft_tid__bad_pids_are_refused() -> None:
    for bad in (0, -1, True, "12", 2**22 + 1, 1.0):
        with pytest.raises(InvalidInput) as err:
            task_of_pid(bad)
        assert err.value.field == "pid"
    gone = subprocess.Popen(["true"])
    gone.wait()
    with pytest.raises(UnknownId, match=f"no process {gone.pid}"):
        task_of_pid(gone.pid)
    for bad in ("0", "x", "-3"):
        with pytest.raises(CommandError, match="pid"):
            call_command("weft_tid", "--pid", bad, stdout=io.StringIO())


def test_weft_top__cpu_and_memory_of_each_attempts_process_tree_sorted(
    trees: list[subprocess.Popen[bytes]],
) -> None:
    sleeper = running_attempt(tree(trees, SLEEPER)[0])
    spinner = running_attempt(tree(trees, SPINNER)[0])
    out = io.StringIO()
    call_command("weft_top", "--once", "--json", "--interval", "0.5", stdout=out)
    frame = json.loads(out.getvalue())
    rows = {r["task"]: r for r in frame["tasks"]}
    assert [r["task"] for r in frame["tasks"]] == [spinner.pk, sleeper.pk]  # by CPU, the busy one first
    assert rows[spinner.pk]["cpu_percent"] > 30 and rows[sleeper.pk]["cpu_percent"] < 10
    assert rows[spinner.pk]["processes"] == 2 and rows[sleeper.pk]["processes"] == 2
    assert all(r["rss_mb"] > 0 for r in rows.values())
    by_task = top(interval=0.1, sort="task")["tasks"]
    assert [r["task"] for r in by_task] == sorted(rows)
    text = io.StringIO()
    call_command("weft_top", "--once", "--interval", "0.1", "--sort", "mem", stdout=text)
    assert "sorted by mem" in text.getvalue() and str(spinner.pk) in text.getvalue()
    bad: list[tuple[dict[str, Any], str]] = [({"sort": "pid"}, "sort"), ({"interval": 0}, "interval"),
                                             ({"interval": "1"}, "interval"), ({"interval": 61}, "interval")]
    for kwargs, field in bad:
        with pytest.raises(InvalidInput) as err:
            top(**kwargs)
        assert err.value.field == field
    assert os.getpid() not in {r["pid"] for r in by_task}
    assert processes.SORTS.keys() == {"cpu", "mem", "time", "task"}


def test_follow__yields_the_new_output_of_a_running_attempt_then_the_end() -> None:
    task = running_attempt(os.getpid())
    attempt = Attempt.objects.get(task=task)
    Attempt.objects.filter(pk=attempt.pk).update(stdout="one\n")
    events = follow(task.job_id, poll=0.01)
    assert next(events) == {"event": "output", "task": task.pk, "key": "t.noop", "attempt": 1, "stream": "stdout",
                            "text": "one\n"}
    assert next(events) == {"event": "progress", "status": "running", "done": 0, "total": 1}
    Attempt.objects.filter(pk=attempt.pk).update(stdout="one\ntwo\n")  # the tail gained a line
    assert next(events)["text"] == "two\n"
    # It ends; its final tail's window slid past "one" (a bounded tail): only "three" is new.
    Attempt.objects.filter(pk=attempt.pk).update(stdout="two\nthree\n", stderr="oops\n", outcome="succeeded")
    Job.objects.filter(pk=task.job_id).update(status="succeeded", tasks_open=0)
    rest = list(events)
    assert [(e["event"], e.get("stream"), e.get("text")) for e in rest] == [
        ("output", "stdout", "three\n"), ("output", "stderr", "oops\n"), ("progress", None, None),
        ("end", None, None)]
    assert rest[-1]["status"] == "succeeded"
