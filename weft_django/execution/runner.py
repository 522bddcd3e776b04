"""Claim, run outside any transaction, record: one attempt of one task, in a worker process."""

from __future__ import annotations

import io
import logging
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from typing import Any

from django.db import InterfaceError, OperationalError

from .. import registry, storable
from ..conf import settings
from ..exceptions import WeftError
from ..lifecycle import budget, recover, report
from ..lifecycle import claim as claiming
from ..lifecycle.claim import HOST, Claimed
from ..models import Attempt
from ..outcomes import NonRetryable, Observation, Outcome
from ..registry import SkillDef
from ..spec import check_json
from . import interrupt, isolation, proctitle, supervisor, workspace
from .monitor import Watch, stopped, watch
from .outage import through_outage
from .output import peek_tail, read_tail, tail

logger = logging.getLogger(__name__)


@dataclass
class Context:
    """Handed to a Python skill that takes a ``ctx`` argument."""

    task_id: int
    job_id: int
    # This attempt's fencing token (1 for the first claim, 2 for the next...): the ``token`` everywhere else in
    # weft, ``Task.attempts`` and ``Attempt.number`` in the database. Named for skill authors, who count attempts.
    attempt: int
    key: str
    cost: float = 0.0
    dependencies: dict[str, Any] = field(default_factory=dict)
    attempt_id: int | None = None  # the Attempt row (a loop's iterations point at it)

    def report_cost(self, amount: float) -> None:
        """Add to this attempt's cost (counted against the job's budget); a cost on the returned Outcome adds to it."""
        self.cost += float(amount)

    def report_tokens(self, count: int) -> str:
        """Count tokens spent now against the job's ``max_tokens`` (``llm.chat`` does it for its calls). Returns
        why the job can go on no further ("" while it can): its token budget or deadline stops it, and asks this
        task to stop."""
        return budget.spend(self.job_id, int(count))


def execute(task_id: int, token: int, *, worker: str = HOST, celery_id: str = "") -> dict[str, Any]:
    """Run the task if this message still owns it; a duplicate or stale message does nothing.

    Returns a short summary for Celery's log line ("... succeeded in 0.1s: {...}"), which otherwise says
    None whatever became of the skill.
    """
    sent = 0.0

    def claim() -> Claimed | None:
        nonlocal sent
        sent = time.monotonic()  # the lease runs at least LEASE_SECONDS from here (the database's now() is later)
        return claiming.claim(task_id, token, worker=worker, celery_id=celery_id)

    claimed = through_outage(claim, "claim", task_id)
    if claimed is None:
        recover.recover_orphan(task_id, worker)  # issue 5: a redelivered message of a pool process that died
        return {"task": task_id, "outcome": "not claimed (a duplicate or stale message)"}
    return attempt(claimed, worker=worker, lease_from=sent)


KEPT = "succeeded (recorded with its chunk)"


def attempt(c: Claimed, *, worker: str, lease_from: float,
            keep: Callable[[Claimed, Observation], bool] | None = None) -> dict[str, Any]:
    """Run a claimed task and record its outcome; ``keep(c, obs)`` may take a success to record later with
    others (a chunk's, execution/chunk.py) and says whether it did."""
    try:
        proctitle.show(c.task_id, c.skill_name, "running")
        obs = run(c, worker=worker, lease_from=lease_from)
        proctitle.show(c.task_id, c.skill_name, "recording")
        if keep is not None and keep(c, obs):
            outcome, error_type = KEPT, ""
        else:
            outcome, error_type = record(c, obs) or ("recorded", "")  # None: recorded before an outage
    finally:
        proctitle.reset()
    return {"task": c.task_id, "skill": c.skill_name, "attempt": c.token, "outcome": outcome,
            **({"error_type": error_type} if error_type else {})}


def record(claimed: Claimed, obs: Observation) -> tuple[str, str] | None:
    """``report.record``, through a database outage; if the database refuses the outcome itself, a
    failure that says so instead, so that the task does not sit "running" until its lease runs out."""
    def still_open() -> bool:  # a "lost" attempt is still ours to report, as discarded
        return Attempt.objects.filter(pk=claimed.attempt_id, outcome__in=("running", "lost")).exists()

    try:
        return through_outage(lambda: report.record(claimed, obs), "record", claimed.task_id,
                               done=lambda: not still_open())
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:
        logger.exception("weft: could not record attempt %s of task %s", claimed.token, claimed.task_id)
        if not still_open():
            raise
        failed = storable.unrecordable(obs, exc)
        return through_outage(lambda: report.record(claimed, failed), "record", claimed.task_id,
                               done=lambda: not still_open())


def run(c: Claimed, *, worker: str = HOST, lease_from: float | None = None) -> Observation:
    """Run one claimed attempt; ``lease_from``: the monotonic time its claim was sent (default: now)."""
    timeout = c.timeout
    if c.job_deadline is not None:  # the job's deadline caps the attempt; the decider then stops the job
        left = max(0.0, c.job_deadline.timestamp() - time.time())
        timeout = left if timeout is None else min(timeout, left)
    w = Watch(task_id=c.task_id, token=c.token, timeout=timeout, limits=c.limits, worker=worker,
              attempt_id=c.attempt_id,
              lease_until=(time.monotonic() if lease_from is None else lease_from) + settings.LEASE_SECONDS)
    started = time.monotonic()
    try:
        definition = registry.get(c.skill_name, c.skill_version)
    except WeftError as exc:
        return Observation(Outcome.failure(str(exc), retryable=False), "failed", type(exc).__name__)
    isolated = definition.kind == "python" and definition.isolation == "process"  # isolation.py (issue 5)
    if definition.kind == "python" and not isolated:
        w.thread_ident = interrupt.arm()  # before the monitor can see the watch, so a stop always lands
    with watch(w):
        kind = _run_command if definition.kind == "command" else _run_isolated if isolated else _run_python
        obs = kind(definition, c, w)
    return Observation(
        obs.outcome, obs.attempt_outcome, obs.error_type, obs.traceback, obs.exit_code, obs.stdout, obs.stderr,
        duration=round(time.monotonic() - started, 6), peak_rss_mb=w.peak_rss_mb or None,
        cpu_seconds=w.cpu_seconds or None, peak_open_files=w.peak_open_files or None,
        limit_hit=w.reason if w.reason in ("memory_mb", "cpu_seconds", "cpu_percent", "wall_seconds",
                                           "open_files") else "",
    )


def _call_args(d: SkillDef, c: Claimed) -> tuple[dict[str, Any], Context]:
    """The skill's keyword arguments: its params, plus ``ctx`` when it asks for one."""
    ctx = Context(c.task_id, c.job_id, c.token, c.key, dependencies=dict(c.dependencies or {}),
                  attempt_id=c.attempt_id)
    kwargs = dict(c.params)
    if d.wants_context:
        kwargs["ctx"] = ctx
    return kwargs, ctx


def _run_python(d: SkillDef, c: Claimed, w: Watch) -> Observation:
    assert d.func is not None
    kwargs, ctx = _call_args(d, c)
    out, err = io.StringIO(), io.StringIO()
    w.output = lambda: (tail(out.getvalue()), tail(err.getvalue()))
    ident = w.thread_ident or interrupt.arm()
    try:
        try:
            with redirect_stdout(out), redirect_stderr(err):
                value = d.func(**kwargs)
        finally:
            interrupt.disarm(ident)
    except interrupt.Interrupted:
        return stopped(w, stdout=tail(out.getvalue()), stderr=tail(err.getvalue()))
    except Exception as exc:
        if w.reason:  # the monitor stopped it and the skill turned that into its own error
            return stopped(w, stdout=tail(out.getvalue()), stderr=tail(err.getvalue()))
        return Observation(
            Outcome.failure(str(exc) or type(exc).__name__, retryable=not isinstance(exc, NonRetryable),
                            cost=ctx.cost),
            "failed", type(exc).__qualname__, traceback.format_exc(), None,
            tail(out.getvalue()), tail(err.getvalue()),
        )
    outcome = (value if isinstance(value, Outcome) else Outcome.success(value)).plus_cost(ctx.cost)
    if outcome.kind == "success":
        try:
            check_json(outcome.value, "result")
        except WeftError as exc:
            return Observation(Outcome.failure(str(exc), retryable=False), "failed", "NotSerializable",
                               stdout=tail(out.getvalue()), stderr=tail(err.getvalue()))
    attempt_outcome = {"success": "succeeded", "failure": "failed", "blocked": "blocked",
                       "decompose": "decomposed"}[outcome.kind]
    error_type = "Failure" if outcome.kind == "failure" else ""
    return Observation(outcome, attempt_outcome, error_type, stdout=tail(out.getvalue()),
                       stderr=tail(err.getvalue()))


def _run_isolated(d: SkillDef, c: Claimed, w: Watch) -> Observation:
    """A Python skill in a forked child process: measurable and killable on every limit (issue 5)."""
    assert d.func is not None
    kwargs, ctx = _call_args(d, c)
    return isolation.run(d.func, kwargs, w, title=(c.task_id, c.skill_name), cost=lambda: ctx.cost, tail=read_tail)


def _run_command(d: SkillDef, c: Claimed, w: Watch) -> Observation:
    try:
        argv = registry.render_argv(d, c.params)
    except WeftError as exc:  # checked at submission; the skill's template changed since
        return Observation(Outcome.failure(str(exc), retryable=False), "failed", type(exc).__name__)
    cwd = None
    if d.workspace is not None:  # an agent skill: its own git worktree (agents.py)
        try:
            cwd = workspace.prepare(d.workspace, c.task_id, c.token)
        except (workspace.WorkspaceError, OSError, subprocess.TimeoutExpired) as exc:
            return Observation(Outcome.failure(f"cannot make the worktree: {exc}"), "failed", "WorkspaceError")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started: list[subprocess.Popen[bytes]] = []  # kept: a collected Popen reaps its process, the supervisor's

        def spawn() -> int:  # in the supervisor (supervisor.py): the child is its own, not the worker's
            started.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd,
                                            start_new_session=True, close_fds=True))
            return started[-1].pid

        w.output = lambda: (peek_tail(out), peek_tail(err))
        try:
            code = supervisor.run(spawn, w, skill=c.skill_name, keep=(out.fileno(), err.fileno()))
        except supervisor.SpawnFailed as exc:
            return Observation(Outcome.failure(f"cannot start {argv[0]!r}: {exc}", retryable=False),
                               "failed", exc.kind)
        stdout, stderr = read_tail(out), read_tail(err)
        w.output = None  # the files close here; the attempt's close writes these tails
    if w.reason:
        return stopped(w, exit_code=code, stdout=stdout, stderr=stderr)
    if d.workspace is not None and cwd is not None:
        return workspace.agent_outcome(d, cwd, code, argv, stdout, stderr)
    if code != 0:
        return Observation(Outcome.failure(f"{argv[0]} exited with status {code}"), "failed", "CommandFailed",
                           exit_code=code, stdout=stdout, stderr=stderr)
    return Observation(Outcome.success({"exit_code": 0, "stdout": stdout}), "succeeded", exit_code=0,
                       stdout=stdout, stderr=stderr)
