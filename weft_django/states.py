"""Task and job states, and which transitions between them are allowed."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class TaskStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    """Waiting for its dependencies to succeed."""
    QUEUED = "queued", _("queued")
    """Ready to run; a retry may hold it back until ``not_before``."""
    RUNNING = "running", _("running")
    """Claimed by a worker under a lease."""
    WAITING = "waiting", _("waiting")
    """Decomposed: waits for its children, then completes."""
    BLOCKED = "blocked", _("blocked")
    """Needs input, approval or a new dependency before it can run again."""
    SUCCEEDED = "succeeded", _("succeeded")
    """Finished with a result."""
    FAILED = "failed", _("failed")
    """Finished without a result; no more attempts."""
    CANCELLED = "cancelled", _("cancelled")
    """Stopped on request, or because its job stopped."""
    SKIPPED = "skipped", _("skipped")
    """Never ran because a task it depends on did not succeed."""


class JobStatus(models.TextChoices):
    RUNNING = "running", _("running")
    """Some task is not final yet."""
    SUCCEEDED = "succeeded", _("succeeded")
    """Every task succeeded."""
    FAILED = "failed", _("failed")
    """Every task is final and at least one failed."""
    CANCELLED = "cancelled", _("cancelled")
    """Cancelled on request."""
    STOPPED = "stopped", _("stopped")
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
}


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", _("running")
    """Still executing (or its worker has not been found out yet)."""
    SUCCEEDED = "succeeded", _("succeeded")
    """The skill returned a value."""
    FAILED = "failed", _("failed")
    """The skill raised, or the command exited non-zero."""
    TIMED_OUT = "timed_out", _("timed out")
    """The per-task timeout interrupted it."""
    KILLED = "killed", _("killed")
    """A resource limit was hit; ``limit_hit`` says which."""
    BLOCKED = "blocked", _("blocked")
    """The skill asked to block."""
    DECOMPOSED = "decomposed", _("decomposed")
    """The skill split itself into child tasks."""
    CANCELLED = "cancelled", _("cancelled")
    """Stopped because cancel was requested."""
    LOST = "lost", _("lost")
    """Its lease expired without a result: the worker died or hung."""
    DISCARDED = "discarded", _("discarded")
    """It finished after losing its lease; the result was kept here but not applied."""


class DecisionAction(models.TextChoices):
    ENQUEUE = "enqueue", _("enqueue")
    """The task became ready."""
    RETRY = "retry", _("retry")
    """Run again after a delay."""
    DECOMPOSE = "decompose", _("decompose")
    """Split into child tasks."""
    BLOCK = "block", _("block")
    """Wait for something (a reason, maybe new dependencies)."""
    ADD_DEPENDENCY = "add_dependency", _("add dependency")
    """New tasks were added as dependencies at run time."""
    SUCCEED = "succeed", _("succeed")
    """The task succeeded."""
    FAIL = "fail", _("fail")
    """The task failed for good."""
    SKIP = "skip", _("skip")
    """An upstream task did not succeed."""
    CANCEL = "cancel", _("cancel")
    """Cancelled on request or because the job ended."""
    RECOVER = "recover", _("recover")
    """The sweep found a lost attempt or a lost message."""
    STOP_JOB = "stop_job", _("stop job")
    """The engine stopped the job (budget, deadline, stuck, cycle)."""
    FINISH_JOB = "finish_job", _("finish job")
    """Every task of the job is final."""
    DISCARD_STALE = "discard_stale", _("discard stale")
    """A worker without the lease reported; its result was not applied."""
    APPROVE = "approve", _("approve")
    """Someone allowed a task of a skill that requires approval to run."""
    REJECT = "reject", _("reject")
    """Someone refused a task of a skill that requires approval: it fails without running."""


# The blocked_reason of a task that waits for someone to approve it (not a stuck task: a person decides).
AWAITING_APPROVAL = "awaiting approval"
