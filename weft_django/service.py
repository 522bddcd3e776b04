"""The Python API: submit, status, result, cancel. Commands, the REST API and the admin call these."""

from __future__ import annotations

import time
from typing import Any

from . import access, governance, reports
from . import agent_door as agent_door  # agents outside Celery: register, claim, renew, report (the HTTP claim API)

# What a user may do at all (the adapters show or hide their actions by it).
from .access import may_approve as may_approve
from .access import may_cancel_others as may_cancel_others
from .access import may_rerun as may_rerun

# The command line's batches, pipes and saved templates (weft_batch, weft_pipe, weft_template): part of this API.
from .batch import read_batch as read_batch
from .batch import run_batch as run_batch
from .deferred import submit_job_at as submit_job_at  # Django's Tasks framework's run_after
from .exceptions import InvalidInput, JobFailed, ResultTimeout
from .gates import check_skill_limit as check_skill_limit
from .governance import check_policy as check_policy  # the admin's doors to policies and skills
from .governance import policy_deleted as policy_deleted
from .governance import policy_saved as policy_saved
from .governance import set_skill_enabled as set_skill_enabled
from .governance import set_skill_limits as set_skill_limits
from .jobtemplates import create_template as create_template
from .jobtemplates import delete_template as delete_template
from .jobtemplates import list_templates as list_templates
from .jobtemplates import run_template as run_template
from .jobtemplates import show_template as show_template
from .lifecycle import control
from .models import AuditAction, Job

# The operations the commands run (sweep, prune, skills) are in their own module; part of this API.
from .operations import SWEEP_SCHEDULE as SWEEP_SCHEDULE
from .operations import install_sweep_schedule as install_sweep_schedule
from .operations import prune as prune
from .operations import sweep as sweep
from .operations import sweep_loop as sweep_loop
from .operations import sync_skills as sync_skills
from .operator import retry_task as retry_task
from .operator import unblock as unblock
from .pipes import pipe_result as pipe_result
from .pipes import submit_pipe as submit_pipe
from .schedules import check as check_schedule  # noqa: F401  (the admin's doors to schedules)
from .schedules import fire as fire_schedule  # noqa: F401
from .schedules import install as install_schedule  # noqa: F401
from .schedules import uninstall as uninstall_schedule  # noqa: F401
from .spec import check_text
from .states import FINAL_JOB_STATES, JobStatus

# Submitting (one task, many, a DAG; and for a user, checked): in its own module, part of this API.
from .submitting import submit as submit
from .submitting import submit_by as submit_by
from .submitting import submit_job as submit_job
from .submitting import submit_job_by as submit_job_by
from .submitting import submit_many as submit_many
from .submitting import submit_many_by as submit_many_by

_SAME_OWNER: Any = object()


def status(job_id: Any) -> dict[str, Any]:
    """State, counts per task state, and progress of a job."""
    return reports.status(job_id)


def wait(job_id: Any, timeout: float | None = None) -> Job:
    """Block until the job is final; raise ResultTimeout after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.01
    while True:
        job = reports.get_job(job_id)
        if job.status in FINAL_JOB_STATES:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise ResultTimeout(f"job {job.pk} is still {job.status} after {timeout:g} s")
        time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.5)


def result(job_id: Any, timeout: float | None = None, *, limit: int | None = None, after: int | None = None) -> Any:
    """The job's result once it succeeds: the value for a one-task job, else ``{key: value}`` of its
    top-level tasks (at most ``limit`` of them after task id ``after``: ``result_page`` gives the next cursor).

    Raises JobFailed if it ended otherwise, ResultTimeout if it is not final within ``timeout``.
    """
    return result_page(job_id, timeout, limit=limit, after=after)[0]


def result_page(job_id: Any, timeout: float | None = None, *, limit: int | None = None,
                after: int | None = None) -> tuple[Any, int | None]:
    """``result`` and the ``after`` of its next page (None on the last)."""
    job = wait(job_id, timeout)
    if job.status != JobStatus.SUCCEEDED:
        raise JobFailed(job.pk, job.status, job.stop_reason or reports.failures(job.pk))
    return reports.result_page(job.pk, limit=limit, after=after)


def cancel(job_id: Any, *, by: Any = None, via: str = "code") -> bool:
    """Cancel a job: idle tasks at once, running ones stopped by their worker. False if already final.

    ``by``: a user is checked (``access.check_may_cancel``: their own job, or ``weft.cancel_job``) and
    named on the cancel decision; a name is only recorded. ``via`` (admin, api, command, code): where
    the request came from, on its audit entry (as for every operator action below).
    """
    job = reports.get_job(job_id)
    if access.is_user(by):
        access.check_may_cancel(by, job.pk)
    done = control.cancel(job.pk, _cancel_reason(by))
    governance.audit(AuditAction.CANCEL_JOB, by, via, job_id=job.pk, detail={"changed": done})
    return done


def cancel_task(task_id: int, *, by: Any = None, via: str = "code") -> bool:
    """Cancel one task of a job (its dependents are skipped). False if it was already final. ``by``: as
    for ``cancel``."""
    task_id = reports.task_pk(task_id)
    if access.is_user(by):
        access.check_may_cancel_task(by, task_id)
    done = control.cancel_task(task_id, _cancel_reason(by))
    governance.audit(AuditAction.CANCEL_TASK, by, via, task_id=task_id, detail={"changed": done})
    return done


def rerun(job_id: Any, *, owner: Any = _SAME_OWNER, by: Any = None, via: str = "code") -> Job:
    """Submit a job again, as a new job: the same tasks, dependencies, settings and budget (a deadline
    counts from now), labelled ``rerun_of``. The old job is left as it ended. Validated like any
    submission (a skill removed or disabled since, a ceiling lowered since, is refused and nothing is
    written). The new job belongs to ``owner`` (by default the old job's).

    ``by``: the user who asks; they must see the job and may run each of its skills (as over HTTP),
    and the new job is theirs. A name is only recorded. Either is named by the label ``rerun_by``.
    """
    old = reports.get_job(job_id)
    if access.is_user(by):
        spec = access.rerun_spec(by, old.pk)
        if owner is _SAME_OWNER:
            owner = by
    else:
        spec = reports.job_spec(old.pk)
    labels = {k: v for k, v in spec["labels"].items() if k != "rerun_by"}  # the old job's asker did not ask now
    spec["labels"] = {**labels, "rerun_of": old.pk, **({} if by is None else {"rerun_by": _who(by)})}
    new = submit_job(spec, owner=old.owner if owner is _SAME_OWNER else owner)
    governance.audit(AuditAction.RERUN, by, via, job_id=old.pk, detail={"new_job": new.pk})
    return new


def approve(task_id: int, *, by: Any = None, via: str = "code") -> bool:
    """Let a task of a skill that requires approval run. False if it was not waiting for approval.

    ``by`` (a user or a name) is recorded on the decision. A user is checked first
    (``access.check_may_approve``: ``weft.approve_task``, and not their own task unless
    WEFT_ALLOW_SELF_APPROVAL); a name is a trusted caller's.
    """
    task_id = reports.task_pk(task_id)
    if access.is_user(by):
        access.check_may_approve(by, task_id)
    done = control.approve(task_id, _who(by))
    governance.audit(AuditAction.APPROVE, by, via, task_id=task_id, detail={"changed": done})
    return done


def reject(task_id: int, reason: str = "", *, by: Any = None, via: str = "code") -> bool:
    """Refuse a task that waits for approval: it fails without running. False if it was not waiting.
    ``by``: as for ``approve``."""
    if not isinstance(reason, str):
        raise InvalidInput("reason", f"must be a string, got {type(reason).__name__}")
    check_text(reason, "reason")
    task_id = reports.task_pk(task_id)
    if access.is_user(by):
        access.check_may_approve(by, task_id)
    done = control.reject(task_id, _who(by), reason.strip())
    governance.audit(AuditAction.REJECT, by, via, task_id=task_id, detail={"changed": done, "reason": reason.strip()})
    return done


def _cancel_reason(by: Any) -> str:
    return "cancelled by request" if by is None else f"cancelled by {_who(by)}"


_who = governance.who


def results(job_id: Any, *, limit: int | None = None, after: int | None = None) -> dict[str, Any]:
    """Per-task results and artifacts, partial while the job runs; a page of ``limit`` tasks after task id
    ``after`` (its ``next_after`` is the next page's ``after``)."""
    return reports.results(job_id, limit=limit, after=after)


def explain(job_id: Any, *, limit: int | None = None, after: int | None = None) -> str:
    """Why the job succeeded, failed or stopped, from its decisions and attempts (of a page of its tasks
    with ``limit``/``after``)."""
    return reports.explain(job_id, limit=limit, after=after)
