"""Task and job states, and which transitions between them are allowed.

Pure: no Django. The models give these enums to Django as ``choices`` (with translatable labels).
"""

from __future__ import annotations

from enum import EnumMeta, StrEnum


class _ChoicesType(EnumMeta):
    # The two class-level names of Django's TextChoices the code uses, without Django.
    @property
    def values(cls) -> list[str]:
        return [m.value for m in cls]  # type: ignore[var-annotated]

    @property
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]  # type: ignore[var-annotated]


class Choices(StrEnum, metaclass=_ChoicesType):
    """A state: a ``str`` (compares and stores as its value) whose label is its value in words."""

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class TaskStatus(Choices):
    PENDING = "pending"
    """Waiting for its dependencies to succeed."""
    QUEUED = "queued"
    """Ready to run; a retry may hold it back until ``not_before``."""
    RUNNING = "running"
    """Claimed by a worker under a lease."""
    WAITING = "waiting"
    """Decomposed: waits for its children, then completes."""
    BLOCKED = "blocked"
    """Needs input, approval or a new dependency before it can run again."""
    SUCCEEDED = "succeeded"
    """Finished with a result."""
    FAILED = "failed"
    """Finished without a result; no more attempts."""
    CANCELLED = "cancelled"
    """Stopped on request, or because its job stopped."""
    SKIPPED = "skipped"
    """Never ran because a task it depends on did not succeed."""


class JobStatus(Choices):
    RUNNING = "running"
    """Some task is not final yet."""
    SUCCEEDED = "succeeded"
    """Every task succeeded."""
    FAILED = "failed"
    """Every task is final and at least one failed."""
    CANCELLED = "cancelled"
    """Cancelled on request."""
    STOPPED = "stopped"
    """Stopped by the engine: budget, deadline, stuck or cycle (see ``stop_reason``)."""


FINAL_TASK_STATES = frozenset(
    {TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.SKIPPED}
)
FINAL_JOB_STATES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.STOPPED}
)
LIVE_TASK_STATES = frozenset(set(TaskStatus) - FINAL_TASK_STATES)

# Which states each transition may start from. transitions.py guards every UPDATE with these.
ALLOWED_FROM: dict[str, frozenset[TaskStatus]] = {
    "queue": frozenset({TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.WAITING}),
    "claim": frozenset({TaskStatus.QUEUED}),
    "succeed": frozenset({TaskStatus.RUNNING, TaskStatus.WAITING}),
    "fail": frozenset({TaskStatus.RUNNING, TaskStatus.WAITING, TaskStatus.BLOCKED}),
    "retry": frozenset({TaskStatus.RUNNING}),
    "block": frozenset({TaskStatus.RUNNING}),
    "wait": frozenset({TaskStatus.RUNNING}),
    # A task of a skill that requires approval waits as blocked (AWAITING_APPROVAL) when it first becomes ready.
    "await_approval": frozenset({TaskStatus.PENDING}),
    "approve": frozenset({TaskStatus.BLOCKED}),
    "reject": frozenset({TaskStatus.BLOCKED}),
    "cancel": LIVE_TASK_STATES,
    "skip": frozenset({TaskStatus.PENDING, TaskStatus.BLOCKED}),
    # An operator runs a failed or cancelled task again; the dependents it had skipped wait for it again.
    "reopen": frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED}),
    "unskip": frozenset({TaskStatus.SKIPPED}),
    # An operator lets a task blocked with a reason (not awaiting approval) run again.
    "unblock": frozenset({TaskStatus.BLOCKED}),
}


class AttemptOutcome(Choices):
    RUNNING = "running"
    """Still executing (or its worker has not been found out yet)."""
    SUCCEEDED = "succeeded"
    """The skill returned a value."""
    FAILED = "failed"
    """The skill raised, or the command exited non-zero."""
    TIMED_OUT = "timed_out"
    """The per-task timeout interrupted it."""
    KILLED = "killed"
    """A resource limit was hit; ``limit_hit`` says which."""
    BLOCKED = "blocked"
    """The skill asked to block."""
    DECOMPOSED = "decomposed"
    """The skill split itself into child tasks."""
    CANCELLED = "cancelled"
    """Stopped because cancel was requested."""
    LOST = "lost"
    """Its lease expired without a result: the worker died or hung."""
    DISCARDED = "discarded"
    """It finished after losing its lease; the result was kept here but not applied."""


class DecisionAction(Choices):
    ENQUEUE = "enqueue"
    """The task became ready."""
    RETRY = "retry"
    """Run again after a delay."""
    DECOMPOSE = "decompose"
    """Split into child tasks."""
    BLOCK = "block"
    """Wait for something (a reason, maybe new dependencies)."""
    ADD_DEPENDENCY = "add_dependency"
    """New tasks were added as dependencies at run time."""
    SUCCEED = "succeed"
    """The task succeeded."""
    FAIL = "fail"
    """The task failed for good."""
    SKIP = "skip"
    """An upstream task did not succeed."""
    CANCEL = "cancel"
    """Cancelled on request or because the job ended."""
    RECOVER = "recover"
    """The sweep found a lost attempt or a lost message."""
    STOP_JOB = "stop_job"
    """The engine stopped the job (budget, deadline, stuck, cycle)."""
    FINISH_JOB = "finish_job"
    """Every task of the job is final."""
    DISCARD_STALE = "discard_stale"
    """A worker without the lease reported; its result was not applied."""
    APPROVE = "approve"
    """Someone allowed a task of a skill that requires approval to run."""
    REJECT = "reject"
    """Someone refused a task of a skill that requires approval: it fails without running."""


# The blocked_reason of a task that waits for someone to approve it (not a stuck task: a person decides).
AWAITING_APPROVAL = "awaiting approval"
