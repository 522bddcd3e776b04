"""An operator's second chance for a task: run a failed one again, let a blocked one go. Part of the Python
API (``service`` re-exports them); each checks its own permission and records who did it."""

from __future__ import annotations

from typing import Any

from . import access, governance, reports
from .exceptions import InvalidInput
from .lifecycle import control
from .models import AuditAction, Task
from .spec import check_text


def _check(by: Any, task_id: int) -> None:
    """A user may act on a task they may cancel (their own job, or weft.cancel_job) and whose skill they may run."""
    if access.is_user(by):
        access.check_may_cancel_task(by, task_id)
        skill = Task.objects.filter(pk=task_id).values_list("skill_name", flat=True).first()
        if skill is not None:
            access.check_may_run(by, [("skill", skill)])


def retry_task(task_id: int, *, by: Any = None, via: str = "code") -> bool:
    """Run a failed or cancelled task again: with the dependents it had skipped, and its job if it had ended.
    False if it was not failed or cancelled. InvalidInput for a task of a decomposition (rerun the job)."""
    task_id = reports.task_pk(task_id)
    _check(by, task_id)
    done = control.retry_task(task_id, governance.who(by))
    governance.audit(AuditAction.RETRY_TASK, by, via, task_id=task_id, detail={"changed": done})
    return done


def unblock(task_id: int, note: str = "", *, by: Any = None, via: str = "code") -> bool:
    """Let a task blocked with a reason run again (its skill is called anew), saying why in ``note``. False if it
    was not blocked so; a task awaiting approval is approved instead."""
    if not isinstance(note, str):
        raise InvalidInput("note", f"must be a string, got {type(note).__name__}")
    check_text(note, "note")
    task_id = reports.task_pk(task_id)
    _check(by, task_id)
    done = control.unblock(task_id, governance.who(by), note.strip())
    governance.audit(AuditAction.UNBLOCK, by, via, task_id=task_id, detail={"changed": done, "note": note.strip()})
    return done
