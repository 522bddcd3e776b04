"""Resource limits on process-isolated Python skills: the monitor kills at the limit, the attempt says which."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Processes
from tests.faults.harness import attempts_of, check_history, fault_worker, measure
from weft_django import service
from weft_django.models import Decision, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def finished(job_id: int, timeout: float = 60.0) -> Task:
    return wait_for(lambda: Task.objects.filter(job_id=job_id, status__in=["succeeded", "failed"]).first(), timeout,
                    0.1, f"job {job_id} to finish")


def test_limits__memory_cpu_files_and_wall_time_in_a_child_process(procs: Processes) -> None:
    w = procs.add(fault_worker())
    hog = service.submit("t.hog")  # memory_mb 100 (USS of the child: what the skill itself holds)
    spin = service.submit("t.spin")  # cpu_seconds 1
    files = service.submit("t.files")  # open_files 20
    slow = service.submit("t.slow_isolated")  # wall_seconds 1, retried: the default policy for wall time
    ok = service.submit("t.isolated", {"text": "hello from the child"})

    tasks = {name: finished(job.pk) for name, job in
             (("hog", hog), ("spin", spin), ("files", files), ("slow", slow), ("ok", ok))}

    check_history([t.pk for t in tasks.values()])
    [mem] = attempts_of(tasks["hog"].pk)
    assert (tasks["hog"].status, mem.outcome, mem.limit_hit, mem.error_type) == (
        "failed", "killed", "memory_mb", "LimitExceeded")
    assert mem.peak_rss_mb is not None and 100 < mem.peak_rss_mb < 400
    assert mem.error_message == "killed: memory_mb limit (100.0) exceeded"
    measure("T7 memory hog (limit 100 MB): peak memory when killed (MB)", round(mem.peak_rss_mb, 1))
    [fail] = Decision.objects.filter(task=tasks["hog"], action="fail")
    assert fail.policy == "limits.policy" and "was killed at its memory_mb limit" in fail.reason

    [cpu] = attempts_of(tasks["spin"].pk)
    assert (tasks["spin"].status, cpu.outcome, cpu.limit_hit) == ("failed", "killed", "cpu_seconds")
    assert cpu.cpu_seconds is not None and 1.0 < cpu.cpu_seconds < 3.0
    measure("T7 CPU spinner (limit 1 CPU s): CPU seconds when killed", round(cpu.cpu_seconds, 2))

    [fds] = attempts_of(tasks["files"].pk)
    assert (tasks["files"].status, fds.outcome, fds.limit_hit) == ("failed", "killed", "open_files")
    # One file every 10 ms and a sample every 0.2 s: up to 20 files past the limit before the sample that
    # kills, a few more when that sample is late on a busy machine; never the 500 the skill would open.
    assert fds.peak_open_files is not None and 20 < fds.peak_open_files < 60

    walls = attempts_of(tasks["slow"].pk)
    assert [(a.outcome, a.limit_hit) for a in walls] == [("killed", "wall_seconds")] * 2
    assert [d.action for d in Decision.objects.filter(task=tasks["slow"]).exclude(action="finish_job")
            .order_by("pk")] == ["retry", "fail"]
    assert tasks["slow"].status == "failed"

    [good] = attempts_of(tasks["ok"].pk)
    assert tasks["ok"].status == "succeeded" and good.outcome == "succeeded"
    result = tasks["ok"].result
    assert isinstance(result, dict)
    assert result["attempt"] == 1 and result["status"] == "running"  # the ORM works in the child
    assert result["pid"] != good.pid and result["pid"] not in w.pool_pids()  # it ran in its own process
    assert good.stdout == "hello from the child\n" and good.cost == 0.5
    assert w.alive() and len(w.pool_pids()) == 2  # the pool processes were never the ones killed
