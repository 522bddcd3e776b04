"""``weft_agent``'s loop: claim a task over HTTP, run a command for it, renew the lease while it runs, report.

The command is an argv template (``["render", "--scene", "{scene}"]``: never a shell) filled from the task's
params by the rules of command skills (argv.py: one element per value, and no value may start an element with
``-`` before a literal ``--``, so a param cannot become an option); without a template, the skill's own argv
that the claim returns. The command runs in its own session; the agent kills its whole process group when the
lease is lost (409), when a cancel is requested, at the task's timeout, or when no renewal has got through for a
whole lease (the server has given the task to another by then).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import IO, Any

from .agent import AgentClient, AgentError
from .argv import check_argv_template, render_argv
from .exceptions import LeaseLost, WeftError
from .execution.processes import die_with_parent
from .registry import SkillDef

logger = logging.getLogger(__name__)
TAIL = 20_000  # characters of stdout and stderr sent (the server keeps its own tail of them)


@dataclass
class Ran:
    """What became of one command: how it ended, and why it was stopped if it was."""

    code: int | None
    stopped: str  # "" | "lease_lost" | "cancelled" | "timeout" | "lease_expiring"
    stdout: str
    stderr: str
    duration: float


def command_for(template: Sequence[str] | None, task: dict[str, Any]) -> list[str]:
    """The argv for a claimed task: the template filled from its params, else the skill's own argv."""
    if not template:
        if not task.get("argv"):
            raise WeftError(f"task {task['task']}: no command template given and skill {task['skill']!r} has no argv")
        return [str(a) for a in task["argv"]]
    spec = SkillDef(name="weft_agent", kind="command", argv=check_argv_template(list(template), "argv"))
    return render_argv(spec, task.get("params") or {})


def _tail(f: IO[bytes]) -> str:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - 4 * TAIL))
    return f.read().decode("utf-8", "replace").replace("\x00", "")[-TAIL:]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run(client: AgentClient, task: dict[str, Any], argv: list[str], *, clock: Callable[[], float] = time.monotonic
        ) -> Ran:
    """Run ``argv`` for the claimed ``task``, renewing its lease every heartbeat_interval; stop it when told."""
    interval = float(task.get("heartbeat_interval") or 10.0)
    lease = float(task.get("lease_seconds") or 30.0)
    timeout = task.get("timeout")
    started = clock()
    renewed = started
    stopped = ""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # Its own session (the process group is killed on a lost lease) and dies with this agent if the agent is
        # killed: the command must not outlive the lease it runs under.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                                close_fds=True, preexec_fn=die_with_parent)
        while True:
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(interval, 1.0))
            if proc.poll() is not None:
                break
            now = clock()
            if timeout is not None and now - started > float(timeout):
                stopped = "timeout"
            elif now - renewed >= interval:
                try:
                    answer = client.heartbeat(task["task"], task["token"], _tail(out), _tail(err))
                    renewed = now
                    if answer.get("cancel_requested"):
                        stopped = "cancelled"
                except LeaseLost:
                    stopped = "lease_lost"
                except AgentError as exc:  # the server is away: try again, but never past the lease
                    logger.warning("weft_agent: heartbeat of task %s failed: %s", task["task"], exc)
                    if now - renewed > lease - interval:
                        stopped = "lease_expiring"
            if stopped:
                _kill(proc)
                break
        return Ran(proc.returncode, stopped, _tail(out), _tail(err), round(clock() - started, 3))


STOPS = {"lease_lost": "the lease was lost: the command was killed",
         "lease_expiring": "no renewal of the lease got through in time: the command was killed",
         "timeout": "timed out: the command was killed", "cancelled": "cancel requested: the command was killed"}


def outcome(argv: list[str], ran: Ran) -> dict[str, Any]:
    """The report's fields for what the command did."""
    seen = {"exit_code": ran.code, "stdout": ran.stdout, "stderr": ran.stderr, "duration": ran.duration}
    if ran.stopped == "cancelled":
        return {"outcome": "cancelled", "error": STOPS["cancelled"], **seen}
    if ran.stopped:
        return {"outcome": "failed", "error": STOPS[ran.stopped], "error_type": "Stopped", **seen}
    if ran.code != 0:
        return {"outcome": "failed", "error": f"{argv[0]} exited with status {ran.code}",
                "error_type": "CommandFailed", **seen}
    return {"outcome": "succeeded", "result": {"exit_code": 0, "stdout": ran.stdout}, **seen}


def handle(client: AgentClient, task: dict[str, Any], template: Sequence[str] | None) -> str:
    """Run one claimed task and report it; the outcome the server recorded ("discarded": the lease was lost)."""
    try:
        argv = command_for(template, task)
    except WeftError as exc:  # a param the template refuses: the task cannot run here, nor elsewhere the same way
        fields: dict[str, Any] = {"outcome": "failed", "error": str(exc), "error_type": "InvalidInput",
                                  "retryable": False}
    else:
        try:
            ran = run(client, task, argv)
        except OSError as exc:
            fields = {"outcome": "failed", "error": f"cannot start {argv[0]!r}: {exc}", "error_type": "SpawnFailed",
                      "retryable": False}
        else:
            fields = outcome(argv, ran)
    try:
        return str(client.report(task["task"], task["token"], **fields)["outcome"])
    except LeaseLost:
        return "discarded"


def serve(client: AgentClient, template: Sequence[str] | None, *, skills: list[str] | None = None,
          max_tasks: int | None = None, poll: float = 2.0, say: Callable[[str], None] = print,
          stop: Callable[[], bool] = lambda: False) -> int:
    """Claim and run tasks until ``max_tasks`` are done (None: forever) or ``stop()``; how many ran."""
    done = 0
    while not stop() and (max_tasks is None or done < max_tasks):
        try:
            task = client.claim(skills, os.getpid())
        except AgentError as exc:
            if exc.status in (400, 403, 404):  # refused for good: the server's answer says why
                raise
            say(f"claim failed ({exc}); trying again in {poll:g} s")
            task = None
        if task is None:
            time.sleep(poll)  # nothing to do: ask again later
            continue
        say(f"task {task['task']} ({task['skill']}) attempt {task['token']}: running")
        result = handle(client, task, template)
        say(f"task {task['task']} attempt {task['token']}: {result}")
        done += 1
    return done
