"""weft's rows as the framework's TaskResult: status, return value, errors (exception class and traceback),
attempts (one worker id per attempt), and the times of each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils.module_loading import import_string

from .. import reports
from ..exceptions import UnknownId
from ..states import JobStatus, TaskStatus
from .compat import Task, TaskError, TaskResult, TaskResultDoesNotExist, TaskResultStatus

FAILED_JOB = frozenset({JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.STOPPED})
RUNNING_TASK = frozenset({TaskStatus.RUNNING, TaskStatus.WAITING})
ENDED_BADLY = frozenset({"failed", "timed_out", "killed", "lost", "cancelled"})
# A failure weft observed rather than an exception the function raised (a timeout, a lost worker, a budget).
WEFT_FAILURE = "weft_django.exceptions.TaskFailed"
OBSERVED = {"Timeout": "builtins.TimeoutError"}


def status(job_status: str, task_status: str) -> TaskResultStatus:
    """READY until a worker runs it (queued, waiting for run_after, a retry's backoff or an approval); RUNNING;
    SUCCESSFUL; FAILED for every other end (failed, cancelled, stopped by its budget)."""
    if job_status == JobStatus.SUCCEEDED:
        return TaskResultStatus.SUCCESSFUL
    if job_status in FAILED_JOB:
        return TaskResultStatus.FAILED
    return TaskResultStatus.RUNNING if task_status in RUNNING_TASK else TaskResultStatus.READY


def exception_path(error_type: str, traceback: str) -> str:
    """The dotted path of the exception an attempt raised: weft records its class's qualified name, and the
    traceback's last line names its module (``builtins`` is left out there)."""
    if error_type in OBSERVED:
        return OBSERVED[error_type]
    found = re.findall(rf"^((?:\w+\.)*{re.escape(error_type)})(?::|$)", traceback, re.MULTILINE) if error_type else []
    if not found:
        return WEFT_FAILURE
    return found[-1] if "." in found[-1] else f"builtins.{found[-1]}"


def errors(view: Mapping[str, Any]) -> list[TaskError]:
    """One error per attempt that ended badly; a task that failed without one (rejected, cancelled before it
    ran, out of budget) gets weft's reason as its one error."""
    found = [TaskError(exception_class_path=exception_path(a["error_type"], a["traceback"]),
                       traceback=a["traceback"] or f"{a['error_type'] or 'Error'}: {a['error_message']}")
             for a in view["attempts"] if a["outcome"] in ENDED_BADLY]
    if not found and view["job"]["status"] in FAILED_JOB:
        found.append(TaskError(exception_class_path=WEFT_FAILURE,
                               traceback=view["task"]["error"] or f"job {view['job']['status']}"))
    return found


def framework_task(name: str) -> Task:
    """The framework's Task object a skill name (its ``module_path``) names."""
    try:
        task = import_string(name)
    except ImportError:
        task = None
    if not isinstance(task, Task):
        raise TaskResultDoesNotExist(f"{name} is not a task of Django's Tasks framework")
    return task


def load(result_id: Any) -> TaskResult:
    """The result of a job a framework task became; TaskResultDoesNotExist for an unknown id or another job."""
    try:
        view = reports.lone_task(result_id)
    except UnknownId:
        raise TaskResultDoesNotExist(str(result_id)) from None
    return build(framework_task(view["task"]["skill_name"]), view)


def build(task: Task, view: Mapping[str, Any]) -> TaskResult:
    job, row, attempts = view["job"], view["task"], view["attempts"]
    st = status(job["status"], row["status"])
    params = row["params"] or {}
    result: TaskResult[Any, Any] = TaskResult(
        task=task, id=str(job["id"]), status=st, enqueued_at=job["created_at"],
        started_at=attempts[0]["started_at"] if attempts else None,
        finished_at=job["finished_at"], last_attempted_at=attempts[-1]["started_at"] if attempts else None,
        args=list(params.get("args", [])), kwargs=dict(params.get("kwargs", {})), backend=task.backend,
        errors=errors(view), worker_ids=[a["worker"] for a in attempts],
    )
    if st == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", row["result"])  # the framework's own way (a frozen dataclass)
    return result


def enqueued(task: Task, job_id: int, created_at: Any, params: Mapping[str, Any]) -> TaskResult:
    """The result ``enqueue`` returns: READY, no attempt yet (nothing read back)."""
    return TaskResult(task=task, id=str(job_id), status=TaskResultStatus.READY, enqueued_at=created_at,
                      started_at=None, finished_at=None, last_attempted_at=None, args=list(params["args"]),
                      kwargs=dict(params["kwargs"]), backend=task.backend, errors=[], worker_ids=[])
