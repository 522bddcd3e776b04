"""The ``manage.py weft_*`` commands: exit codes, one-line errors, and real runs on a real worker."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import ROOT, WorkerProcess, purge_broker, wait_for, worker_env
from weft_django import registry, service
from weft_django.exceptions import InvalidInput, ResultTimeout, UnknownId, UnknownSkill
from weft_django.management import arguments, cli
from weft_django.management.commands.weft_skills import params_summary
from weft_django.management.commands.weft_worker import queue_list, worker_argv
from weft_django.models import Attempt, Job, Skill, Task

FINISH = 30.0  # seconds a short job may take on a loaded 2-core machine
MISSING_JOB = "999999999"
IDLE_QUEUE = "weft_test_nobody"  # no worker consumes it: a job sent there stays running


def run(*argv: str) -> tuple[str, Any]:
    """``call_command`` in this process; returns stdout and the CommandError (or None)."""
    out = io.StringIO()
    try:
        call_command(*argv, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def manage(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python manage.py ...`` against the test database and broker, as an operator would run it."""
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=worker_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


# ---------------------------------------------------------------- argument types and small callables


@pytest.mark.parametrize(("text", "expected"), [
    ("n=3", ("n", 3)), ("x=2.5", ("x", 2.5)), ("ok=true", ("ok", True)), ("xs=[1, 2]", ("xs", [1, 2])),
    ("name=Ada", ("name", "Ada")), ("s=\"3\"", ("s", "3")), ("empty=", ("empty", "")), ("v=NaN", ("v", "NaN")),
    ("eq=a=b", ("eq", "a=b")), ("n=null", ("n", None)),
])
def test_cli_param__json_when_it_parses_else_text(text: str, expected: tuple[str, Any]) -> None:
    assert arguments.param(text) == expected


@pytest.mark.parametrize("text", ["name", "=3", " =3"])
def test_cli_param__refuses_missing_key_or_equals(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        arguments.param(text)


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": ', "not valid JSON"), ("[1]", "must be a JSON object, got list"), ('{"a": NaN}', "not valid JSON"),
])
def test_cli_json_object__names_the_reason(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        arguments.json_object(text)


def test_cli_limit__parses_numbers_and_leaves_ranges_to_the_domain() -> None:
    assert arguments.limit("memory_mb=256") == ("memory_mb", 256)
    assert arguments.limit("cpu_seconds=0.5") == ("cpu_seconds", 0.5)
    assert arguments.limit("memory_mb=-1") == ("memory_mb", -1)  # Limits.parse refuses it, naming limits.memory_mb
    with pytest.raises(argparse.ArgumentTypeError, match="limit memory_mb: must be a number"):
        arguments.limit("memory_mb=lots")
    with pytest.raises(argparse.ArgumentTypeError, match="finite"):
        arguments.limit("memory_mb=inf")


def test_cli_exit_code__maps_each_error_kind() -> None:
    assert cli.exit_code(UnknownSkill("x")) == 2
    assert cli.exit_code(UnknownId("no job")) == 2
    assert cli.exit_code(ResultTimeout("still running")) == 124
    assert cli.exit_code(InvalidInput("params.a", "bad")) == 1
    assert cli.exit_code(service.JobFailed(1, "failed", "boom")) == 1


def test_cli_table__aligns_columns_and_shows_none_as_dash() -> None:
    assert cli.table(("A", "LONG"), [("xyz", None), ("1", "two\nlines")]).splitlines() == [
        "A    LONG", "xyz  -", "1    two lines"]


def test_weft_worker_argv__one_message_per_process_on_weft_queues() -> None:
    argv = worker_argv(queues=["weft", "bulk"], concurrency=2, pool="prefork", loglevel="info", beat=True,
                       hostname="a@%h")
    assert argv[0] == "worker"
    assert argv[argv.index("--queues") + 1] == "weft,bulk"
    assert argv[argv.index("--prefetch-multiplier") + 1] == "1"
    assert argv[argv.index("-O") + 1] == "fair"
    assert argv[argv.index("--concurrency") + 1] == "2"
    assert "--beat" in argv
    assert "--concurrency" not in worker_argv(queues=["weft"], concurrency=None, pool="solo", loglevel="info",
                                              beat=False, hostname=None)


def test_weft_worker_queue_list__refuses_bad_names() -> None:
    assert queue_list(" weft, bulk ,") == ["weft", "bulk"]
    with pytest.raises(argparse.ArgumentTypeError, match="invalid queue name 'a b'"):
        queue_list("weft,a b")
    with pytest.raises(argparse.ArgumentTypeError):
        queue_list(",")


def test_weft_skills_params_summary__marks_required_properties() -> None:
    assert params_summary(registry.get("t.add").params_schema) == "a*: number, b*: number"
    assert params_summary({}) == "(any)"
    assert params_summary({"type": "object", "additionalProperties": False}) == "(none)"


# ---------------------------------------------------------------- bad input: exit code and one line


BAD_INPUT = [
    pytest.param(["weft_run", "t.nope"], 2, ["unknown skill 't.nope'"], id="unknown-skill"),
    pytest.param(["weft_run", "t.add\x00", "-p", "a=1"], 1, ["skill: must not contain the NUL"], id="nul-in-skill"),
    pytest.param(["weft_run", "t.add", "-p", "a=1"], 1, ["params", "'b' is a required property"], id="bad-params"),
    pytest.param(["weft_run", "t.add", "-p", "a=x", "-p", "b=1"], 1, ["params.a", "'x' is not of type 'number'"],
                 id="wrong-type"),
    pytest.param(["weft_run", "t.add", "--param", "a"], 1, ["--param", "expected KEY=VALUE"], id="param-syntax"),
    pytest.param(["weft_run", "t.add", "--params", '{"a": '], 1, ["--params", "not valid JSON"], id="params-json"),
    pytest.param(["weft_run", "t.add", "--params", '{"a": 1, "b": 2}', "--limit", "memory_mb=-1"], 1,
                 ["limits.memory_mb", "greater than 0"], id="negative-limit"),
    pytest.param(["weft_run", "t.add", "-p", "a=1", "-p", "a=2"], 1, ["params.a", "more than once"],
                 id="param-twice"),
    pytest.param(["weft_status", MISSING_JOB], 2, [f"no job with id {MISSING_JOB}"], id="status-unknown-job"),
    pytest.param(["weft_result", MISSING_JOB], 2, [f"no job with id {MISSING_JOB}"], id="result-unknown-job"),
    pytest.param(["weft_status", "abc"], 1, ["a job id is a positive whole number"], id="status-bad-id"),
    pytest.param(["weft_kill", MISSING_JOB], 2, [f"no task with id {MISSING_JOB}"], id="kill-unknown-task"),
    pytest.param(["weft_kill", "-3"], 1, ["must be greater than 0"], id="kill-bad-id"),
    pytest.param(["weft_list", "--status", "done"], 1, ["--status", "must be one of running"], id="list-bad-status"),
    pytest.param(["weft_list", "--limit", "0"], 1, ["--limit", "must be greater than 0"], id="list-bad-limit"),
    # Each was a traceback: a NUL or undecodable bytes (kept by Python as lone surrogates) reached PostgreSQL or
    # open(), a limit past bigint reached the query.
    pytest.param(["weft_explain", "1", "--limit", "99999999999999999999"], 1, ["--limit", "must be at most"],
                 id="limit-past-bigint"),
    pytest.param(["weft_list", "--owner", "ann\udcff"], 1, ["--owner", "not text in this locale"],
                 id="owner-undecodable"),
    pytest.param(["weft_cancel", "1", "--user", "a\x00"], 1, ["--user", "NUL"], id="user-nul"),
    pytest.param(["weft_approve", "1", "--by", "\udcff"], 1, ["--by", "not text"], id="by-undecodable"),
    pytest.param(["weft_submit", "--file", "job\x00.yaml"], 1, ["--file", "NUL"], id="file-nul"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("argv", "code", "fragments"), BAD_INPUT)
def test_commands__bad_input_in_process(argv: list[str], code: int, fragments: list[str]) -> None:
    out, exc = run(*argv)

    assert exc is not None and exc.returncode == code, exc
    for fragment in fragments:
        assert fragment in str(exc)
    assert "\n" not in str(exc)
    assert out == ""


@pytest.mark.django_db
def test_commands__bad_input_writes_nothing() -> None:
    for argv in (["weft_run", "t.add", "-p", "a=1"], ["weft_run", "t.add", "--params", '{"a": 1, "b": 2}',
                                                       "--limit", "memory_mb=-1"]):
        run(*argv)
    assert not Job.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("argv", "code", "fragments"), [
    p for p in BAD_INPUT if p.id in {"unknown-skill", "bad-params", "param-syntax", "params-json", "negative-limit",
                                      "status-unknown-job", "result-unknown-job"}
])
def test_commands__bad_input_from_the_shell(argv: list[str], code: int, fragments: list[str]) -> None:
    assert_one_line_error(manage(*argv), code, *fragments)


@pytest.mark.django_db(transaction=True)
def test_weft_result__times_out_with_124_while_nobody_runs_the_job() -> None:
    job = service.submit("t.add", {"a": 1, "b": 2}, queue=IDLE_QUEUE)
    try:
        proc = manage("weft_result", str(job.pk), "--timeout", "0.5", "--json")
    finally:
        purge_broker((IDLE_QUEUE,))

    assert_one_line_error(proc, 124, f"job {job.pk} is still running after 0.5 s")
    assert json.loads(proc.stdout) == {"id": job.pk, "status": "running", "error": "timeout"}


# ---------------------------------------------------------------- real runs on a real worker

@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_run__wait_prints_the_result(worker: WorkerProcess) -> None:
    out, exc = run("weft_run", "t.add", "-p", "a=2", "-p", "b=3", "--wait", "--timeout", str(FINISH), "--json")

    assert exc is None
    reply = json.loads(out)
    assert reply == {"id": reply["id"], "status": "succeeded", "result": 5}
    assert run("weft_result", str(reply["id"])) == ("5\n", None)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_run__without_wait_prints_the_id_and_passes_task_options(worker: WorkerProcess) -> None:
    argv = ("weft_run", "t.echo", "-p", "text=hi there", "--task-timeout", "9", "--limit", "memory_mb=512",
            "--priority", "3", "--idempotency-key", "cmd-test-1")
    out, exc = run(*argv)

    assert exc is None
    job_id = int(out)
    task = Task.objects.get(job_id=job_id)
    assert (task.timeout, task.limits, task.priority) == (9.0, {"memory_mb": 512.0}, 3)
    assert service.result(job_id, timeout=FINISH) == {"exit_code": 0, "stdout": "hi there\n"}
    assert run(*argv) == (f"{job_id}\n", None)  # the same submission again: the same job
    out, exc = run("weft_run", "t.echo", "-p", "text=again", "--idempotency-key", "cmd-test-1")
    assert str(exc).startswith(f"idempotency_key: was used for job {job_id}, submitted with a different params")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_status__lists_every_attempt(worker: WorkerProcess) -> None:
    job = service.submit("t.flaky", {"succeed_on": 3})
    service.wait(job.pk, timeout=FINISH)

    out, exc = run("weft_status", str(job.pk))
    assert exc is None
    lines = out.splitlines()
    assert lines[0] == f"job {job.pk} t.flaky: succeeded"
    assert lines[1] == "tasks: 1/1 done (succeeded 1)"
    header = lines.index(next(line for line in lines if line.startswith("TASK")))
    rows = [line.split() for line in lines[header + 1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("t.flaky", "1", "failed"), ("t.flaky", "2", "failed"),
                                                 ("t.flaky", "3", "succeeded")]
    assert "ConnectionError: attempt 1 failed on purpose" in lines[header + 1]

    report = json.loads(run("weft_status", str(job.pk), "--json")[0])
    assert report["status"] == "succeeded"
    assert [(a["number"], a["outcome"]) for a in report["attempts"]] == [(1, "failed"), (2, "failed"),
                                                                         (3, "succeeded")]
    assert all(a["worker"] and a["duration"] is not None for a in report["attempts"])


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_result__failed_job_exits_1_with_its_error(worker: WorkerProcess) -> None:
    job = service.submit("t.fatal")

    out, exc = run("weft_result", str(job.pk), "--timeout", str(FINISH), "--json")

    assert exc is not None and exc.returncode == 1
    assert "NonRetryable: no point retrying" in str(exc)
    reply = json.loads(out)
    assert (reply["id"], reply["status"]) == (job.pk, "failed")


@pytest.mark.django_db
def test_weft_skills__lists_and_syncs() -> None:
    out, exc = run("weft_skills")
    assert exc is None
    assert any(line.split()[:3] == ["t.add", "1", "python"] and line.endswith("a*: number, b*: number")
               for line in out.splitlines())
    listed = json.loads(run("weft_skills", "--json")[0])
    assert {s["name"] for s in listed} == {d.name for d in registry.all_skills()}

    assert run("weft_skills", "--sync") == (f"synced {len(listed)} skills: {len(listed)} created, 0 updated\n", None)
    assert json.loads(run("weft_skills", "--sync", "--json")[0]) == {"created": 0, "updated": len(listed)}
    assert Skill.objects.count() == len(listed)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_worker__runs_tasks_from_its_queue() -> None:
    queue = "weft_cmd_worker"
    argv = [sys.executable, "manage.py", "weft_worker", "--queues", queue, "--concurrency", "1",
            "--hostname", "cmd@%h", "--loglevel", "info"]
    worker = WorkerProcess(argv, worker_env(), "weft_worker-cmd")
    try:
        worker.wait_ready()
        job = service.submit("t.add", {"a": 20, "b": 22}, queue=queue)
        assert service.result(job.pk, timeout=FINISH) == 42
        attempt = wait_for(lambda: Attempt.objects.filter(job=job).first(), FINISH, message="the attempt row")
        assert attempt.worker.startswith("cmd@")
        assert "concurrency: 1 (prefork)" in worker.log_text()
    finally:
        worker.stop()
        purge_broker((queue,))


@pytest.mark.django_db
def test_weft_list__newest_first_with_filters() -> None:
    from django.contrib.auth.models import User

    ada = User.objects.create_user("ada")
    first = service.submit("t.noop", queue=IDLE_QUEUE)
    second = service.submit("t.noop", queue=IDLE_QUEUE, owner=ada)
    service.cancel(first.pk)

    out, exc = run("weft_list", "--json")
    assert exc is None
    rows = json.loads(out)
    assert [(r["id"], r["status"], r["owner"], r["done"], r["total"]) for r in rows] == [
        (second.pk, "running", "ada", 0, 1), (first.pk, "cancelled", None, 1, 1)]
    assert [r["id"] for r in json.loads(run("weft_list", "--status", "cancelled", "--json")[0])] == [first.pk]
    assert [r["id"] for r in json.loads(run("weft_list", "--owner", "ada", "--json")[0])] == [second.pk]
    assert len(json.loads(run("weft_list", "--limit", "1", "--json")[0])) == 1
    table = run("weft_list")[0].splitlines()
    assert table[0].split() == ["ID", "NAME", "STATUS", "TASKS", "OWNER", "CREATED"]
    assert table[1].split()[:5] == [str(second.pk), "t.noop", "running", "0/1", "ada"]
    assert run("weft_list", "--status", "failed")[0].strip() == "no jobs"


@pytest.mark.django_db
def test_weft_list__a_long_stop_reason_does_not_stretch_the_table() -> None:
    short = service.submit("t.noop", queue=IDLE_QUEUE)
    long = service.submit("t.noop", queue=IDLE_QUEUE, name="n" * 200)
    service.cancel(short.pk)
    service.cancel(long.pk)
    reason = "stopped: " + "the budget ran out because " * 20
    Job.objects.filter(pk=long.pk).update(stop_reason=reason)

    table = run("weft_list")[0].splitlines()
    header = table[0]
    assert all(len(line) < 140 for line in table), table
    for line in table[1:]:  # every column starts where its header does
        for title in ("STATUS", "TASKS", "OWNER", "CREATED"):
            at = header.index(title)
            assert line[at - 2:at] == "  " and line[at] != " ", (title, line)
    assert "cancelled (stopped: the budget ran out" in table[1] and "...)" in table[1]
    assert json.loads(run("weft_list", "--json")[0])[0]["stop_reason"] == reason  # whole in JSON


def test_commands__every_command_that_prints_takes_json() -> None:
    from django.core.management import get_commands, load_command_class

    names = sorted(n for n, app in get_commands().items() if n.startswith("weft_"))
    assert len(names) == 22
    for name in names:
        command = load_command_class("weft_django", name)
        flags = {o for a in command.create_parser("manage.py", name)._actions for o in a.option_strings}
        # The worker prints Celery's log only, the agent a line per task as it goes: both run until stopped.
        assert ("--json" in flags) == (name not in ("weft_worker", "weft_agent")), name


def as_json(*argv: str) -> Any:
    out, exc = run(*argv, "--json")
    value = json.loads(out)  # one JSON document, nothing else on stdout
    return value, exc


@pytest.mark.django_db
def test_commands__json_output_parses_and_holds_the_outcome() -> None:
    reply, _ = as_json("weft_run", "t.noop", "--queue", IDLE_QUEUE)
    job = Job.objects.get(pk=reply["id"])
    assert reply == {"id": job.pk, "status": "running"}
    status, _ = as_json("weft_status", str(job.pk))
    assert (status["id"], status["status"], status["total"], status["attempts"]) == (job.pk, "running", 1, [])
    assert [r["id"] for r in as_json("weft_list")[0]][:1] == [job.pk]
    assert as_json("weft_ps")[0] == []
    assert {"name": "t.noop"}.items() <= next(sk for sk in as_json("weft_skills")[0] if sk["name"] == "t.noop").items()
    assert set(as_json("weft_skills", "--sync")[0]) == {"created", "updated"}
    explained, _ = as_json("weft_explain", str(job.pk))
    assert explained["id"] == job.pk and explained["explain"].startswith(f"Job {job.pk}")
    assert explained["next_after"] is None
    rerun, _ = as_json("weft_rerun", str(job.pk))
    assert rerun == {"id": rerun["id"], "status": "running", "tasks": 1, "rerun_of": job.pk}
    task = Task.objects.get(job_id=rerun["id"])
    assert as_json("weft_kill", str(task.pk))[0] == {"task": task.pk, "cancelled": True, "status": "cancelled"}
    assert as_json("weft_kill", str(task.pk))[0] == {"task": task.pk, "cancelled": False, "status": "cancelled"}
    assert as_json("weft_cancel", str(job.pk))[0] == {"job": job.pk, "cancelled": True}
    assert as_json("weft_cancel", str(job.pk))[0] == {"job": job.pk, "cancelled": False}
    assert as_json("weft_result", str(job.pk))[0]["status"] == "cancelled"
    guarded = [Task.objects.get(job=service.submit("t.guarded", queue=IDLE_QUEUE)) for _ in range(3)]
    assert as_json("weft_cancel", str(guarded[0].pk), "--task")[0] == {"task": guarded[0].pk, "cancelled": True}
    assert as_json("weft_approve", str(guarded[1].pk))[0] == {"task": guarded[1].pk, "approved": True}
    assert as_json("weft_approve", str(guarded[2].pk), "--reject", "--reason", "no")[0] == {
        "task": guarded[2].pk, "rejected": True}
    again, exc = as_json("weft_approve", str(guarded[2].pk), "--reject")
    assert again == {"task": guarded[2].pk, "rejected": False} and exc is not None and exc.returncode == 1
    assert isinstance(as_json("weft_sweep")[0], dict)
    assert as_json("weft_sweep", "--install-schedule")[0]["schedule"] == "weft-sweep"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_weft_ps_and_weft_kill__show_a_running_task_and_stop_it(worker: WorkerProcess) -> None:
    assert run("weft_ps")[0].strip() == "no task is running"
    job = service.submit("t.sleep_cmd", {"seconds": 30})
    task = Task.objects.get(job=job)
    wait_for(lambda: Attempt.objects.filter(task=task, outcome="running", pid__isnull=False).exists(), FINISH,
             message="the task to start")

    [row] = json.loads(run("weft_ps", "--json")[0])
    assert (row["task"], row["job"], row["skill"], row["attempt"]) == (task.pk, job.pk, "t.sleep_cmd", 1)
    assert row["worker"].startswith(f"{worker.name}@") and row["pid"] in worker.pool_pids()
    assert row["running_for"] >= 0 and 0 < row["lease_left"] <= 30
    assert str(task.pk) in run("weft_ps")[0].splitlines()[1]

    out, exc = run("weft_kill", str(task.pk))
    assert exc is None and out.strip() == f"task {task.pk}: cancel requested"
    wait_for(lambda: Task.objects.filter(pk=task.pk, status="cancelled").exists(), 10, message="the task to stop")
    assert Attempt.objects.get(task=task).outcome == "cancelled"
    assert run("weft_kill", str(task.pk))[0].strip() == f"task {task.pk} had already ended"
    assert run("weft_ps")[0].strip() == "no task is running"
