"""weft_batch, weft_pipe, weft_result --stream and weft_status --watch with a real worker."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import ROOT, WorkerProcess, worker_env
from weft_django.models import Job, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_weft_batch__at_most_parallel_jobs_unfinished_at_a_time(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text("".join(json.dumps({"skill": "t.sleep", "params": {"seconds": 0.4}}) + "\n" for _ in range(5))
                    + '{"tasks": [{"key": "a", "skill": "t.add", "params": {"a": 1, "b": 2}}]}\n')
    out = io.StringIO()
    call_command("weft_batch", "--file", str(path), "--parallel", "2", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert (summary["total"], summary["succeeded"], summary["refused"], summary["unfinished"]) == (6, 6, 0, 0)
    jobs = list(Job.objects.filter(pk__in=[j["id"] for j in summary["jobs"]]).order_by("pk"))
    assert [j.status for j in jobs] == ["succeeded"] * 6 and [j["line"] for j in summary["jobs"]] == [1, 2, 3, 4, 5, 6]
    # From the rows: whenever a job was created, at most one other was still unfinished.
    spans = [(j.pk, j.created_at, j.finished_at) for j in jobs if j.finished_at is not None]
    assert len(spans) == 6
    for pk, created, _ in spans:
        open_then = [o for o, start, end in spans if o != pk and start <= created < end]
        assert len(open_then) <= 1, (pk, open_then)
    assert spans[2][1] >= min(spans[0][2], spans[1][2])


def test_weft_batch__without_a_terminal_a_line_per_job(worker: WorkerProcess, tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"skill": "t.noop"}\n{"skill": "t.fatal"}\n')
    proc = subprocess.run([sys.executable, "manage.py", "weft_batch", "--file", str(path)], cwd=ROOT,
                          env=worker_env(), capture_output=True, text=True, timeout=60, check=False)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and proc.stderr.startswith("Error: 1 of 2 jobs did not succeed"), proc.stderr
    assert sorted(line.split(" job ")[0] for line in lines[:4]) == ["line 1:", "line 1:", "line 2:", "line 2:"]
    assert lines[-1] == "1 of 2 jobs succeeded" and "\r" not in proc.stdout


def test_weft_pipe__each_stage_gets_the_previous_result(worker: WorkerProcess) -> None:
    out = io.StringIO()
    call_command("weft_pipe", "t.add a=1 b=2 | t.inc | t.inc by=10", "--wait", "--timeout", "30", "--json",
                 stdout=out)
    reply = json.loads(out.getvalue())
    assert (reply["status"], reply["result"]) == ("succeeded", 14.0)
    assert dict(Task.objects.filter(job_id=reply["id"]).values_list("key", "result")) == {
        "stage1": 3, "stage2": 4.0, "stage3": 14.0}


def test_weft_result__stream_prints_output_while_the_attempt_runs(worker: WorkerProcess) -> None:
    submitted = subprocess.run([sys.executable, "manage.py", "weft_run", "t.slow_ticks"], cwd=ROOT, env=worker_env(),
                               capture_output=True, text=True, timeout=60, check=True)
    job = int(submitted.stdout.strip())
    argv = [sys.executable, "manage.py", "weft_result", str(job), "--stream", "--timeout", "30"]
    with subprocess.Popen(argv, cwd=ROOT, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        still = Job.objects.get(pk=job).status  # the first tick is printed while the job still runs
        # Read through the same buffered files (communicate() reads the pipes' fds, losing what readline buffered).
        rest, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=60)
    assert proc.returncode == 0, err
    assert first == "tick 1\n" and still == "running"
    # Every tick once (only what each tail added), then the result (the command's stdout, "" here).
    assert (first + rest).splitlines()[:6] == [f"tick {i}" for i in range(1, 7)]
    assert "job running" in err or "tasks done" in err  # the progress, on stderr


def test_weft_status__watch_follows_to_the_end_with_progress(worker: WorkerProcess) -> None:
    out = io.StringIO()
    job = Job.objects.get(pk=json.loads(_run_json("weft_run", "t.py_ticks", "-p", "n=3"))["id"])
    call_command("weft_status", str(job.pk), "--watch", "--json", stdout=out)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    output = "".join(e["text"] for e in events if e.get("event") == "output")
    assert output.splitlines() == ["py tick 1", "py tick 2", "py tick 3"]
    progress = [e for e in events if e.get("event") == "progress"]
    assert progress[-1] == {"event": "progress", "status": "succeeded", "done": 1, "total": 1}
    assert events[-2]["event"] == "end" and events[-1]["status"] == "succeeded"  # then the report


def _run_json(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, "--json", stdout=out)
    return out.getvalue()
