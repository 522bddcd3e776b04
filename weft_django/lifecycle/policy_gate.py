"""The policies' gate at claim: a rule with a time window (``deny`` during it) holds a task that would start
inside the window. Evaluated only while such a rule is in force (``policing.claim_rules_exist``); a held
task stays queued with no attempt, says why (``waiting_for``), is recorded once (a Policy Decision Record),
and is sent again when the window ends, or by the sweep's re-offer of waiting tasks for a rule without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model

from .. import transitions
from ..handoff import Ready, after_commit
from ..models import Task
from . import policing


def held(task_id: int, token: int, row: Mapping[str, Any], now: datetime) -> bool:
    """Inside the claim's transaction: True if a policy holds the task now (then it stays queued)."""
    owner = None
    if row["job__owner_id"] is not None:
        owner = get_user_model().objects.filter(pk=row["job__owner_id"]).first()
    verdict = policing.at_claim(row, owner, row["job__labels"], now)
    if verdict.run:
        return False
    until = f" until {verdict.until.isoformat(timespec='seconds')}" if verdict.until else ""
    reason = f"held by policy {verdict.rule!r}{until}: {verdict.reason}"
    was = Task.objects.filter(pk=task_id).values_list("waiting_for", flat=True).first()
    if transitions.hold(task_id, token, reason[:300]):
        if was != reason[:300]:  # recorded once, when it starts waiting (the sweep offers it again meanwhile)
            policing.record_claim_hold(row["job_id"], task_id, row["skill_name"], verdict)
        if verdict.until is not None:  # sent again when the window ends
            after_commit([Ready(task_id, token, row["queue"], row["priority"],
                                max(0.0, (verdict.until - now).total_seconds()))])
    return True
