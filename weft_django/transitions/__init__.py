"""Every change of a task's or job's state, each a guarded compare-and-set.

Each function updates only the fields it changes, in one UPDATE whose WHERE names the states it may
start from (and, for work done under a lease, the fencing token). Zero rows matched means the row
was elsewhere: it raises ``InvalidTransition`` or, for fenced writes, returns False so the caller can
keep the late result as a discarded attempt. Callers own the transaction (the event modules in lifecycle/).
One module per kind: ``tasks`` (a task's life), ``jobs`` (a job's counts and end), ``recovery`` (a dead
process's task, a re-send, an operator's second chance).
"""

from __future__ import annotations

from .jobs import add_cost, count_finished, end_job, reopen_job
from .recovery import fail_orphan, recover_orphan, redispatched_holding, reopen, unblock, unskip
from .tasks import (
    approve,
    await_approval_many,
    block,
    cancel_idle,
    cancel_running,
    claim,
    db_now_plus,
    fail,
    fail_lost,
    fail_waiting,
    finish_waiting,
    hold,
    offered,
    queue,
    queue_many,
    recover,
    reject,
    renew_lease,
    renew_leases,
    request_cancel,
    retry,
    skip,
    succeed,
    wait,
)

__all__ = [
    "add_cost", "approve", "await_approval_many", "block", "cancel_idle", "cancel_running", "claim",
    "count_finished", "db_now_plus", "end_job", "fail", "fail_lost", "fail_orphan", "fail_waiting",
    "finish_waiting", "hold", "offered", "queue", "queue_many", "recover", "recover_orphan", "redispatched_holding",
    "reject", "renew_lease", "renew_leases", "reopen", "reopen_job", "request_cancel", "retry", "skip", "succeed",
    "unblock", "unskip", "wait",
]
